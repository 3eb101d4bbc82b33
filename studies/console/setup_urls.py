"""Set-up pages of the coordinator console (included under /console/)."""

from django.urls import path

from . import setup

urlpatterns = [
    path("", setup.home, name="console-home"),
]
