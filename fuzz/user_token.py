"""Signs a user in through the authorization code flow, as a browser would, and prints the
access token. Standard library only. Usage: user_token.py ISSUER CLIENT_ID CLIENT_SECRET
REDIRECT_URI USERNAME PASSWORD"""

import base64
import html
import http.cookiejar
import json
import re
import sys
import urllib.error
import urllib.parse
import urllib.request


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def field(page, name):
    match = re.search(r'name="%s" value="([^"]*)"' % re.escape(name), page)
    if not match:
        raise SystemExit("no %s on the page:\n%s" % (name, page))
    return html.unescape(match.group(1))


def main():
    issuer, client_id, secret, redirect_uri, username, password = sys.argv[1:7]
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), NoRedirect()
    )

    def open_(url, form=None):
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        try:
            with opener.open(url, data) as response:
                return response.status, response.read().decode(), response.headers
        except urllib.error.HTTPError as redirect:
            return redirect.code, redirect.read().decode(), redirect.headers

    query = urllib.parse.urlencode(
        {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "scope": "openid profile email offline_access",
        }
    )
    status, page, headers = open_(issuer + "/oauth/authorize?" + query)
    for step, extra in (
        ("login", {"username": username, "password": password}),
        ("consent", {"decision": "allow"}),
    ):
        if status != 200:
            break
        form = {
            "request_id": field(page, "request_id"),
            "csrf_token": field(page, "csrf_token"),
            "step": step,
        }
        form.update(extra)
        status, page, headers = open_(issuer + "/oauth/authorize", form)
    location = headers.get("Location", "")
    code = urllib.parse.parse_qs(urllib.parse.urlparse(location).query).get("code")
    if not code:
        raise SystemExit("no code (status %s): %s" % (status, page))
    request = urllib.request.Request(
        issuer + "/oauth/token",
        urllib.parse.urlencode(
            {
                "grant_type": "authorization_code",
                "code": code[0],
                "redirect_uri": redirect_uri,
            }
        ).encode(),
        {
            "Authorization": "Basic "
            + base64.b64encode(("%s:%s" % (client_id, secret)).encode()).decode()
        },
    )
    with urllib.request.urlopen(request) as response:
        print(json.load(response)["access_token"])


if __name__ == "__main__":
    main()
