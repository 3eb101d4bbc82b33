"""API tokens: obtain one with a password (and a one-time code where the account has a second
factor), revoke it at logout. Tokens expire (REST_KNOX TOKEN_TTL) and are stored hashed."""

from django.contrib.auth import logout
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from studies.errors import LockedOut
from studies.security import lockout_response
from studies.services import accounts

from .serializers import NoBody, StrictInput

ERROR = inline_serializer("Error", {"detail": serializers.CharField()})


class TokenRequestSerializer(StrictInput):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=4096, trim_whitespace=False, style={"input_type": "password"})
    otp_token = serializers.CharField(
        max_length=16, required=False, default="",
        help_text="The current code of the authenticator app, for accounts with two-factor login.",
    )


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="Send as 'Authorization: Token <token>'.")
    expiry = serializers.DateTimeField()


class TokenLoginView(APIView):
    authentication_classes = ()
    permission_classes = (AllowAny,)

    @extend_schema(
        request=TokenRequestSerializer,
        responses={200: TokenSerializer, 400: OpenApiTypes.OBJECT, 403: ERROR, 429: ERROR},
        description="A new API token. After LOGIN_FAILURE_LIMIT wrong passwords in a row the account is "
                    "locked for LOGIN_LOCKOUT_MINUTES (429 with Retry-After), even for the right password.",
    )
    def post(self, request):
        credentials = TokenRequestSerializer(data=request.data)
        credentials.is_valid(raise_exception=True)
        try:
            user = accounts.authenticate_for_token(request=request, **credentials.validated_data)
        except LockedOut:
            return lockout_response(request)
        instance, token = accounts.issue_token(request=request, user=user)
        return Response(TokenSerializer({"token": token, "expiry": instance.expiry}).data)


class LogoutView(APIView):
    @extend_schema(request=None, responses={204: None})
    def post(self, request):
        """Revoke the token this request presents (or end its browser session)."""
        NoBody(data=request.data).is_valid(raise_exception=True)
        if request.auth is not None:
            accounts.revoke_token(user=request.user, token=request.auth)
        else:
            logout(request._request)
        return Response(status=204)


class LogoutAllView(APIView):
    @extend_schema(request=None, responses={204: None})
    def post(self, request):
        """Revoke every API token of the requesting user."""
        NoBody(data=request.data).is_valid(raise_exception=True)
        accounts.revoke_all_tokens(user=request.user)
        return Response(status=204)
