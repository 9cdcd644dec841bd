//! A real relying-party library (the `openidconnect` crate) drives the code flow from nothing
//! but the discovery URL: discovery, authorization URL, code exchange with PKCE, ID token
//! validation against the JWKS (signature, iss, aud, exp, nonce, at_hash), userinfo.

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreUserInfoClaims,
};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
};

use crate::helpers::{location_params, Backend, Browser, TestApp, REDIRECT_URI};
use crate::on_both_databases;

on_both_databases!(the_openidconnect_crate_completes_the_flow_from_discovery);

async fn the_openidconnect_crate_completes_the_flow_from_discovery(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let registered = app.register_client().await;
    let user = app.create_user().await;
    let http = openidconnect::reqwest::ClientBuilder::new()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    // Discovery.
    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(app.address.clone()).unwrap(), &http)
            .await
            .expect("discovery is accepted by the library");
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(registered.id.clone()),
        Some(ClientSecret::new(registered.secret.clone().unwrap())),
    )
    .set_redirect_uri(RedirectUrl::new(REDIRECT_URI.to_owned()).unwrap());

    // The authorization URL the library builds, followed by a person in a browser.
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, csrf, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("profile".into()))
        // The claims parameter (OIDC Core 5.5): the email in the ID token itself.
        .add_extra_param("claims", r#"{"id_token":{"email":{"essential":true}}}"#)
        .set_pkce_challenge(challenge)
        .url();
    let done = Browser::new(&app).authorize(url.as_str(), &user).await;
    let params = location_params(&done);
    assert_eq!(&params["state"], csrf.secret());

    // Code exchange and ID token validation, all by the library.
    let tokens = client
        .exchange_code(AuthorizationCode::new(params["code"].clone()))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("the token response is accepted");
    let id_token = tokens.id_token().expect("an ID token");
    let verifier = client.id_token_verifier();
    let claims = id_token
        .claims(&verifier, &nonce)
        .expect("the ID token validates");
    assert_eq!(claims.subject().as_str(), user.sub);
    // How the person signed in, as the library reads it.
    assert_eq!(
        claims.auth_context_ref().map(|acr| acr.as_str()),
        Some("urn:oidcd:acr:password")
    );
    let amr: Vec<&str> = claims
        .auth_method_refs()
        .into_iter()
        .flatten()
        .map(|m| m.as_str())
        .collect();
    assert_eq!(amr, ["pwd"]);
    assert!(claims.auth_time().is_some());
    assert_eq!(
        claims.email().map(|e| e.as_str().to_owned()),
        Some(format!("{}@example.com", user.username))
    );
    let expected = claims.access_token_hash().expect("at_hash");
    let actual = AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(&actual, expected);

    // Userinfo through the library.
    let info: CoreUserInfoClaims = client
        .user_info(tokens.access_token().clone(), None)
        .unwrap()
        .request_async(&http)
        .await
        .expect("userinfo is accepted");
    assert_eq!(info.subject().as_str(), user.sub);
    assert_eq!(
        info.email().map(|e| e.as_str().to_owned()),
        Some(format!("{}@example.com", user.username))
    );
}
