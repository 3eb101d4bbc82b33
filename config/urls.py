from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.http import HttpResponsePermanentRedirect
from django.templatetags.static import static
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from studies import views
from studies.observability import health, metrics
from studies.pages import accounts, invite, ohif

urlpatterns = [
    path("", views.home, name="home"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/2fa/", accounts.otp_setup, name="otp-setup"),
    path("accounts/2fa/verify/", accounts.otp_verify, name="otp-verify"),
    path("accounts/invite/<uidb64>/<token>/", invite.accept, name="invite-accept"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("studies.api.urls")),
    path("dicomweb/", include("studies.dicomweb.urls")),
    path("read/", include("studies.pages.urls")),
    path("analysis/", include("studies.analysis_urls")),
    path("console/", include("studies.console.urls")),
    path("ohif/app-config.js", ohif.app_config, name="ohif-config"),
    re_path(r"^ohif/(?P<path>.*)$", ohif.viewer, name="ohif"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves its start script as a file: no inline script under the CSP.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="api-redoc"),
    path("healthz", health.healthz, name="healthz"),
    path("livez", health.livez, name="livez"),
    path("metrics", metrics.metrics, name="metrics"),
    # Pages without an icon link (error pages, a downloaded report opened from the site) make browsers ask here.
    # The icon's URL is asked for at the request: the production manifest of static files exists only by then.
    path("favicon.ico", lambda request: HttpResponsePermanentRedirect(static("studies/favicon.svg")), name="favicon"),
]
