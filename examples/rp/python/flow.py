"""Sign a person in to your app through oidcd with Authlib (an OAuth and OpenID Connect library)
and requests: discovery, authorization code flow with PKCE, ID token validation, userinfo and
a token refresh.

    OIDCD_ISSUER=http://127.0.0.1:8080 CLIENT_ID=app CLIENT_SECRET=... \\
      REDIRECT_URI=http://127.0.0.1:9999/cb python flow.py

A web app would redirect the browser to the authorization URL and handle the callback in a
route (Authlib's Flask, Django and Starlette integrations wrap the same steps); to stay a single
file, this script prints the URL (`AUTHORIZE <url>`), then reads the URL the browser was sent
back to (the callback, with `?code=...&state=...&iss=...`) as one line on stdin. It ends with
one line `RESULT {json}`. On any failure it prints the library's error on stderr and exits
non-zero.
"""

import json
import os
import sys
from urllib.parse import parse_qs, urlsplit

if os.environ.get("OIDCD_ISSUER", "").startswith("http://"):
    # Authlib refuses plain-http endpoints when it validates the discovery document. Only for a
    # development oidcd on http; never in production. (Authlib 1.9 already lets loopback
    # addresses and localhost through by itself; other development host names need this.)
    os.environ.setdefault("AUTHLIB_INSECURE_TRANSPORT", "1")

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.oidc.core import CodeIDToken, UserInfo
from authlib.oidc.discovery import OpenIDProviderMetadata
from joserfc import jwt
from joserfc.jwk import KeySet

SCOPE = "openid profile email offline_access"


def setting(name, optional=False):
    value = os.environ.get(name)
    if not value and not optional:
        raise RuntimeError(f"{name} is not set")
    return value or None


def discover(issuer):
    """Fetches and validates the discovery document; it must name exactly this issuer."""
    response = requests.get(f"{issuer}/.well-known/openid-configuration", timeout=10)
    response.raise_for_status()
    metadata = OpenIDProviderMetadata(response.json())
    metadata.validate()
    if metadata["issuer"] != issuer:
        raise RuntimeError(f"discovery names issuer {metadata['issuer']!r}, not {issuer!r}")
    return metadata


def validate_id_token(metadata, client_id, token, nonce):
    """What Authlib's framework integrations do in `parse_id_token`: the signature against the
    published keys, then iss, aud, exp, iat, nonce, azp and at_hash."""
    keys = KeySet.import_key_set(requests.get(metadata["jwks_uri"], timeout=10).json())
    algorithms = metadata["id_token_signing_alg_values_supported"]
    decoded = jwt.decode(token["id_token"], keys, algorithms=algorithms)
    claims = CodeIDToken(
        decoded.claims,
        decoded.header,
        # Authlib compares iss and aud only when told to (exp, iat, nonce, azp and at_hash it
        # checks by itself).
        options={
            "iss": {"essential": True, "value": metadata["issuer"]},
            "aud": {"essential": True, "value": client_id},
        },
        params={"nonce": nonce, "client_id": client_id, "access_token": token["access_token"]},
    )
    claims.validate(leeway=60)
    return claims


def main():
    issuer = setting("OIDCD_ISSUER").rstrip("/")
    client_id = setting("CLIENT_ID")
    client_secret = setting("CLIENT_SECRET", optional=True)
    redirect_uri = setting("REDIRECT_URI")

    metadata = discover(issuer)
    session = OAuth2Session(
        client_id,
        client_secret,
        scope=SCOPE,
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        # oidcd authenticates a client the way it was registered: client_secret_basic by
        # default (`oidcd client create`), `none` for a public client (`--public`). Said
        # explicitly so that it stays in step with the registration.
        token_endpoint_auth_method="client_secret_basic" if client_secret else "none",
    )

    # What the app keeps in the user's session between the redirect and the callback.
    code_verifier = generate_token(64)
    nonce = generate_token(32)
    url, state = session.create_authorization_url(
        metadata["authorization_endpoint"], code_verifier=code_verifier, nonce=nonce
    )
    print(f"AUTHORIZE {url}", flush=True)

    # The browser comes back to REDIRECT_URI.
    callback = sys.stdin.readline().strip()
    if not callback:
        raise RuntimeError("expected the callback URL on stdin")
    params = {k: v[0] for k, v in parse_qs(urlsplit(callback).query).items()}
    if "error" in params:
        description = params.get("error_description", "")
        raise RuntimeError(f"authorization failed: {params['error']}: {description}")
    # RFC 9207: the callback names the issuer that sent it. Authlib's client does not check
    # this itself, so the app does (it matters once an app talks to more than one provider).
    if params.get("iss") != metadata["issuer"]:
        raise RuntimeError(f"the callback's iss {params.get('iss')!r} is not the issuer")

    # Checks state, then redeems the code with the PKCE verifier (client_secret_basic).
    token = session.fetch_token(
        metadata["token_endpoint"],
        authorization_response=callback,
        state=state,
        code_verifier=code_verifier,
    )
    claims = validate_id_token(metadata, client_id, token, nonce)

    # Userinfo with the access token (the session sends it as a bearer token), checked to be
    # about the same person as the ID token.
    response = session.get(metadata["userinfo_endpoint"], timeout=10)
    response.raise_for_status()
    userinfo = UserInfo(response.json())
    if userinfo["sub"] != claims["sub"]:
        raise RuntimeError("userinfo is about someone else")

    # A refresh (there is a refresh token because `offline_access` was granted). oidcd rotates
    # refresh tokens: the session keeps the new one, the old one is spent.
    refreshed = None
    if token.get("refresh_token"):
        refreshed = session.refresh_token(metadata["token_endpoint"])
        # oidcd sends a new ID token too: same checks, no nonce this time, the same person.
        if "id_token" in refreshed:
            again = validate_id_token(metadata, client_id, refreshed, nonce=None)
            if again["sub"] != claims["sub"]:
                raise RuntimeError("the refreshed ID token is about someone else")

    result = {
        "library": "authlib",
        "sub": claims["sub"],
        "userinfo_sub": userinfo["sub"],
        "email": userinfo.get("email"),
        "scope": token.get("scope"),
        "refresh_token_received": bool(token.get("refresh_token")),
        "refreshed": bool(refreshed and refreshed.get("access_token")),
        "refresh_gave_new_access_token": bool(
            refreshed and refreshed.get("access_token") not in (None, token["access_token"])
        ),
        "refresh_rotated_refresh_token": bool(
            refreshed
            and refreshed.get("refresh_token") not in (None, token["refresh_token"])
        ),
    }
    print(f"RESULT {json.dumps(result)}", flush=True)


if __name__ == "__main__":
    try:
        main()
    except Exception as error:  # the library's own message, for the caller to read
        print(f"flow failed: {type(error).__name__}: {error}", file=sys.stderr)
        sys.exit(1)
