// Sign a person in to your app through oidcd with openid-client v6 (an OpenID-certified
// relying-party library): discovery, authorization code flow with PKCE, ID token validation,
// userinfo and a token refresh.
//
//   OIDCD_ISSUER=http://127.0.0.1:8080 CLIENT_ID=app CLIENT_SECRET=... \
//     REDIRECT_URI=http://127.0.0.1:9999/cb node flow.mjs
//
// A client registered for key-based authentication sets CLIENT_AUTH: `private_key_jwt` with
// CLIENT_PRIVATE_JWK (its private key as a JWK, RS256/PS256/ES256; the public half is what
// was registered as `jwks`), or `client_secret_jwt` with CLIENT_SECRET. openid-client then
// signs a fresh client assertion for every token request.
//
// AUTHORIZE_VIA chooses how the authorization request travels: `query` (the default: in the
// URL), `par` (pushed to oidcd first, RFC 9126: the URL then carries only client_id and a
// request_uri), `jar` (a request object signed with CLIENT_PRIVATE_JWK, RFC 9101) or
// `par+jar` (a signed request object, pushed).
//
// RESOURCE names an API the access tokens are for (RFC 8707, a resource registered with
// `oidcd resource add` and allowed to the client), and RESOURCE_SCOPE the scope it accepts.
// The authorization request and both token requests carry `resource`; the access tokens are
// then for that API, not for userinfo, so the script introspects them instead (a confidential
// client) to show their audience.
//
// REGISTER=1 has the app register itself first (RFC 7591, when oidcd's `registration.mode` is
// on): it sends its metadata to the discovered `registration_endpoint`, with
// INITIAL_ACCESS_TOKEN when the operator handed one out, and uses the client_id and secret it
// gets back (CLIENT_ID and CLIENT_SECRET are then not needed). It prints
// `REGISTERED <client_id>`.
//
// DPOP=1 binds the tokens to a key the script makes (RFC 9449): every token request and the
// userinfo call carry a DPoP proof, and the library answers oidcd's nonce challenges.
//
// A web app would redirect the browser to the authorization URL and handle the callback in a
// route; to stay a single file, this script prints the URL (`AUTHORIZE <url>`), then reads the
// URL the browser was sent back to (the callback, with `?code=...&state=...&iss=...`) as one
// line on stdin. It ends with one line `RESULT {json}`. On any failure it prints the library's
// error on stderr and exits non-zero.

import * as readline from 'node:readline';
import * as client from 'openid-client';

function setting(name, { optional = false } = {}) {
  const value = process.env[name];
  if (!value && !optional) throw new Error(`${name} is not set`);
  return value || undefined;
}

async function readLine() {
  const lines = readline.createInterface({ input: process.stdin });
  try {
    for await (const line of lines) return line.trim();
  } finally {
    // Done with stdin: without this Node waits for the writer to close it before exiting.
    process.stdin.destroy();
  }
  throw new Error('expected the callback URL on stdin');
}

// The client's private key (CLIENT_PRIVATE_JWK), as openid-client takes it.
async function privateKey() {
  const jwk = JSON.parse(setting('CLIENT_PRIVATE_JWK'));
  const algorithm = {
    RS256: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
    PS256: { name: 'RSA-PSS', hash: 'SHA-256' },
    ES256: { name: 'ECDSA', namedCurve: 'P-256' },
  }[jwk.alg];
  if (!algorithm) throw new Error(`CLIENT_PRIVATE_JWK needs alg RS256, PS256 or ES256`);
  const key = await crypto.subtle.importKey('jwk', jwk, algorithm, false, ['sign']);
  return { key, kid: jwk.kid };
}

// The ClientAuth for how the client was registered.
async function authentication(method, clientSecret) {
  switch (method) {
    case 'private_key_jwt':
      return client.PrivateKeyJwt(await privateKey());
    case 'client_secret_jwt':
      return client.ClientSecretJwt(clientSecret);
    case undefined:
      return clientSecret ? client.ClientSecretBasic(clientSecret) : client.None();
    default:
      throw new Error(`CLIENT_AUTH ${method} is not one this example knows`);
  }
}

async function main() {
  const issuer = new URL(setting('OIDCD_ISSUER'));
  const register = Boolean(process.env.REGISTER);
  const clientId = setting('CLIENT_ID', { optional: register });
  const clientSecret = setting('CLIENT_SECRET', { optional: true });
  const redirectUri = setting('REDIRECT_URI');
  const insecure = issuer.protocol === 'http:';

  // oidcd authenticates a client the way it was registered: client_secret_basic by default
  // (`oidcd client create`), `none` for a public client (`--public`). openid-client v6 would
  // otherwise send the secret with client_secret_post, which oidcd refuses for a basic client.
  const clientAuth = await authentication(setting('CLIENT_AUTH', { optional: true }), clientSecret);

  // Discovery: fetches <issuer>/.well-known/openid-configuration and checks that the document's
  // `issuer` is exactly this one. openid-client only talks https; allowInsecureRequests is here
  // solely because a development oidcd listens on plain http on loopback. Never in production.
  const config = register
    ? // Discovery, then the registration: the library authenticates with client_secret_post
      // by default, so that is the method the app registers with.
      await client.dynamicClientRegistration(
        issuer,
        {
          client_name: 'openid-client example',
          redirect_uris: [redirectUri],
          grant_types: ['authorization_code', 'refresh_token'],
          response_types: ['code'],
          token_endpoint_auth_method: 'client_secret_post',
          scope: 'openid profile email offline_access',
        },
        undefined,
        {
          initialAccessToken: setting('INITIAL_ACCESS_TOKEN', { optional: true }),
          execute: insecure ? [client.allowInsecureRequests] : [],
        },
      )
    : await client.discovery(
        issuer,
        clientId,
        { client_secret: clientSecret },
        clientAuth,
        insecure ? { execute: [client.allowInsecureRequests] } : undefined,
      );
  if (register) console.log(`REGISTERED ${config.clientMetadata().client_id}`);

  // What the app keeps in the user's session between the redirect and the callback.
  const codeVerifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();

  const parameters = {
    redirect_uri: redirectUri,
    scope: 'openid profile email offline_access',
    code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
    state,
    nonce,
  };
  const resource = setting('RESOURCE', { optional: true });
  if (resource) {
    parameters.resource = resource;
    parameters.scope += ` ${setting('RESOURCE_SCOPE')}`;
  }
  // Sent again at the token endpoint: the token is for that resource only.
  const tokenParameters = resource ? { resource } : undefined;
  let authorizationUrl;
  switch (setting('AUTHORIZE_VIA', { optional: true }) ?? 'query') {
    case 'query':
      authorizationUrl = client.buildAuthorizationUrl(config, parameters);
      break;
    case 'par':
      // POSTs the parameters to pushed_authorization_request_endpoint, authenticated.
      authorizationUrl = await client.buildAuthorizationUrlWithPAR(config, parameters);
      break;
    case 'jar':
      authorizationUrl = await client.buildAuthorizationUrlWithJAR(config, parameters, await privateKey());
      break;
    case 'par+jar': {
      const signed = await client.buildAuthorizationUrlWithJAR(config, parameters, await privateKey());
      authorizationUrl = await client.buildAuthorizationUrlWithPAR(config, signed.searchParams);
      break;
    }
    default:
      throw new Error('AUTHORIZE_VIA must be query, par, jar or par+jar');
  }
  console.log(`AUTHORIZE ${authorizationUrl.href}`);

  // DPoP: one key pair for the session; the handle signs a proof for each request.
  const dpop = process.env.DPOP
    ? client.getDPoPHandle(config, await client.randomDPoPKeyPair('ES256'))
    : undefined;

  // The browser comes back to REDIRECT_URI.
  const callback = new URL(await readLine());

  // Checks state and `iss` (RFC 9207) in the callback, redeems the code with the PKCE verifier,
  // and validates the ID token: signature against the JWKS, iss, aud, exp, iat, nonce.
  const tokens = await client.authorizationCodeGrant(
    config,
    callback,
    {
      pkceCodeVerifier: codeVerifier,
      expectedState: state,
      expectedNonce: nonce,
      idTokenExpected: true,
    },
    tokenParameters,
    { DPoP: dpop },
  );
  const claims = tokens.claims();

  // Userinfo, checked to be about the same person as the ID token; a token for another
  // resource is introspected instead.
  const userinfo = resource
    ? null
    : await client.fetchUserInfo(config, tokens.access_token, claims.sub, { DPoP: dpop });
  const audience = async (token) =>
    resource ? (await client.tokenIntrospection(config, token)).aud : null;

  // A refresh (there is a refresh token because `offline_access` was granted). oidcd rotates
  // refresh tokens: keep the new one, the old one is spent. The new ID token that comes with
  // it is validated like the first (signature, iss, aud, exp).
  let refreshed = null;
  if (tokens.refresh_token) {
    refreshed = await client.refreshTokenGrant(config, tokens.refresh_token, tokenParameters, {
      DPoP: dpop,
    });
  }

  const result = {
    library: 'openid-client',
    client_auth: setting('CLIENT_AUTH', { optional: true }) ?? null,
    authorize_via: setting('AUTHORIZE_VIA', { optional: true }) ?? 'query',
    token_type: tokens.token_type,
    refreshed_token_type: refreshed?.token_type ?? null,
    sub: claims.sub,
    userinfo_sub: userinfo?.sub ?? null,
    email: userinfo?.email ?? null,
    audience: await audience(tokens.access_token),
    refreshed_audience: refreshed?.access_token ? await audience(refreshed.access_token) : null,
    scope: tokens.scope ?? null,
    refresh_token_received: Boolean(tokens.refresh_token),
    refreshed: Boolean(refreshed?.access_token),
    refresh_gave_new_access_token: Boolean(
      refreshed?.access_token && refreshed.access_token !== tokens.access_token,
    ),
    refresh_rotated_refresh_token: Boolean(
      refreshed?.refresh_token && refreshed.refresh_token !== tokens.refresh_token,
    ),
  };
  console.log(`RESULT ${JSON.stringify(result)}`);
}

main().catch((error) => {
  // The library's own message. openid-client puts the specific reason in `cause`: the check
  // that failed, or oidcd's error response (`error`, `error_description`).
  console.error(`flow failed: ${error.name}: ${error.message}`);
  const { cause } = error;
  if (cause instanceof Error) console.error(`  because: ${cause.name}: ${cause.message}`);
  else if (cause !== undefined) console.error(`  because: ${JSON.stringify(cause)}`);
  process.exit(1);
});
