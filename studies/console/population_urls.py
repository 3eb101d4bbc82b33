"""The case-mix page of the coordinator console (included under /console/)."""

from django.urls import path

from . import population

STUDY = "studies/<int:study_id>/population/"

urlpatterns = [
    path(STUDY, population.population_page, name="console-population"),
    path(STUDY + "set/", population.population_set, name="console-population-set"),
]
