//! Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document, which MCP
//! clients use): a `client_id` that is an https URL names a JSON document, hosted by the app,
//! that describes it with the members of RFC 7591. Nothing is registered beforehand: the
//! first request that names the URL fetches the document (with the `fetch.*` limits), holds
//! it to the registration policy as if the app had registered it, and keeps it on a client
//! row whose id is the URL (grants, consents and codes need the row). The row is the cache,
//! shared by every instance: it is used until the document's HTTP caching headers say it is
//! stale (bounded to [`MIN_FRESH`]..[`MAX_FRESH`]), then revalidated with its entity tag, or
//! fetched again.
//!
//! Nothing secret can be published, so such a client is public (`none`, PKCE) or proves
//! itself with its keys (`private_key_jwt`). Nobody vouches for it: the consent page says so
//! and names the host its document is on.

use serde_json::Value;
use url::Url;

use super::dynamic::{self, Policy};
use super::error::{ErrorCode, OAuthError};
use super::registration::{self, Keeper, Registered, RegistrationError};
use crate::clock::UnixTime;
use crate::config::Config;
use crate::db::Db;
use crate::store::clients::{AuthMethod, Client, DocumentCopy};
use crate::store::{self, StoreError};

/// The longest `client_id` URL.
pub const MAX_ID_LEN: usize = 255;
/// The least time a copy is used before it is revalidated, whatever the document's headers
/// say (`no-cache` included): otherwise every request of the app would fetch it.
pub const MIN_FRESH: i64 = 60;
/// How long a copy is used when the document's headers do not say.
pub const DEFAULT_FRESH: i64 = 3600;
/// How long a refused document is not fetched again (by this instance): the same refusal
/// is answered meanwhile, so a broken or hostile document cannot make every request a fetch.
pub const RETRY_AFTER: i64 = 30;
/// The most refusals remembered.
const MAX_REFUSALS: usize = 10_000;

/// The documents refused lately, per `client_id`, with when they may be fetched again.
#[derive(Debug, Default)]
pub struct RecentRefusals(std::sync::Mutex<std::collections::HashMap<String, (UnixTime, String)>>);

impl RecentRefusals {
    fn get(&self, client_id: &str, now: UnixTime) -> Option<String> {
        let map = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.get(client_id)
            .filter(|(until, _)| *until > now)
            .map(|(_, why)| why.clone())
    }

    fn put(&self, client_id: &str, why: &str, now: UnixTime) {
        let mut map = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() >= MAX_REFUSALS {
            map.retain(|_, (until, _)| *until > now);
            if map.len() >= MAX_REFUSALS {
                map.clear();
            }
        }
        map.insert(client_id.to_owned(), (now + RETRY_AFTER, why.to_owned()));
    }
}
/// The most time a copy is used before it is revalidated.
pub const MAX_FRESH: i64 = 86_400;

/// Why a `client_id` URL cannot be used, in words for the app's developer.
#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    /// The URL, its fetch or the document is refused.
    #[error("{0}")]
    Refused(String),
    /// This client address started using `registration.per_ip` new documents in the window.
    #[error("too many new apps from this address: try again later")]
    Throttled,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Internal(String),
}

impl DocumentError {
    /// The protocol's error: `code` (`invalid_client` where clients authenticate,
    /// `invalid_request` at the authorization endpoint) for a refused or throttled document.
    pub fn into_oauth(self, code: ErrorCode) -> OAuthError {
        match self {
            Self::Refused(_) | Self::Throttled => OAuthError::new(code, self.to_string()),
            Self::Store(e) => e.into(),
            Self::Internal(e) => OAuthError::server_error(&e),
        }
    }
}

impl From<RegistrationError> for DocumentError {
    fn from(e: RegistrationError) -> Self {
        match e {
            RegistrationError::Invalid(f) => Self::Refused(format!("the document's {f}")),
            RegistrationError::Store(s) => Self::Store(s),
            other => Self::Internal(other.to_string()),
        }
    }
}

/// Whether `client_id` has the shape of a document's URL (rather than of an id this server
/// gave, which never has a `:`).
pub fn names_document(client_id: &str) -> bool {
    client_id.starts_with("https://") || client_id.starts_with("http://")
}

/// The draft's rules for the URL (section 3): https (plain http on loopback only with
/// `fetch.allow_loopback`), a path, no dot segments, no fragment, no user name or password;
/// here also written in its normal form (so that one document has one id), on one of
/// `registration.document_hosts` when that is set, and neither it nor its host in
/// `registration.blocked_documents`.
pub fn check_id(
    client_id: &str,
    allow_loopback: bool,
    hosts: &[String],
    blocked: &[String],
) -> Result<Url, String> {
    if client_id.len() > MAX_ID_LEN {
        return Err(format!("is longer than {MAX_ID_LEN} characters"));
    }
    let url = Url::parse(client_id).map_err(|e| format!("is not a URL: {e}"))?;
    crate::fetch::check_url(&url, allow_loopback)?;
    if url.as_str() != client_id {
        return Err(format!(
            "is not written in its normal form ({url}): a lower-case host, no default port, \
             no dot segments"
        ));
    }
    if url.path() == "/" {
        return Err("must have a path".into());
    }
    let host = url.host_str().unwrap_or_default();
    if !hosts.is_empty() && !hosts.iter().any(|h| h == host) {
        return Err(format!(
            "is on {host}, whose documents are not accepted here (registration.document_hosts)"
        ));
    }
    if blocked.iter().any(|b| b == host || b == client_id) {
        return Err(
            "names a document that is blocked here (registration.blocked_documents)".into(),
        );
    }
    Ok(url)
}

/// What reading a client's document needs.
#[derive(Clone, Copy)]
pub struct Documents<'a> {
    pub db: &'a Db,
    pub keeper: Keeper<'a>,
    pub policy: &'a Policy,
    pub config: &'a Config,
    pub refusals: &'a RecentRefusals,
}

impl Documents<'_> {
    /// Makes the client row of `client_id`, when it names a document, hold a fresh copy of
    /// it: nothing to do while the copy is fresh; else the document is revalidated or
    /// fetched, checked, and written. `address` is the client address of the request: a
    /// new document counts against its `registration.per_ip`. Does nothing when `client_id`
    /// is not a URL (the lookup that follows finds the client or not); refuses every URL
    /// while documents are off.
    pub async fn refresh(
        &self,
        client_id: &str,
        address: &str,
        now: UnixTime,
    ) -> Result<(), DocumentError> {
        if !names_document(client_id) {
            return Ok(());
        }
        if !self.policy.metadata_documents {
            // Copies kept from when they were on included.
            return Err(DocumentError::Refused(
                "The client_id is the URL of a client metadata document, which this provider \
                 does not read (registration.metadata_documents is off)."
                    .into(),
            ));
        }
        if let Some(why) = self.refusals.get(client_id, now) {
            return Err(DocumentError::Refused(why));
        }
        let result = self.bring_up_to_date(client_id, address, now).await;
        match &result {
            Err(DocumentError::Refused(why)) => {
                tracing::info!(client_id, reason = %why, "client metadata document refused");
                self.refusals.put(client_id, why, now);
            }
            Err(e @ DocumentError::Throttled) => {
                tracing::info!(client_id, reason = %e, "client metadata document refused");
            }
            _ => {}
        }
        result
    }

    async fn bring_up_to_date(
        &self,
        client_id: &str,
        address: &str,
        now: UnixTime,
    ) -> Result<(), DocumentError> {
        check_id(
            client_id,
            self.keeper.allow_loopback,
            &self.policy.document_hosts,
            &self.policy.blocked_documents,
        )
        .map_err(|why| DocumentError::Refused(format!("The client_id {why}.")))?;
        let current = match store::clients::get(self.db, client_id).await {
            Ok(client) => Some(client),
            Err(StoreError::NotFound) => None,
            Err(e) => return Err(e.into()),
        };
        let etag = match current.as_ref().map(|c| &c.document) {
            // Fresh, or a row an operator made (never, since their ids have no `:`).
            Some(Some(copy)) if copy.expires_at > now && copy.policy == self.policy.digest => {
                return Ok(())
            }
            Some(None) => return Ok(()),
            // Revalidated when it was checked against this policy; else fetched whole.
            Some(Some(copy)) => copy
                .etag
                .clone()
                .filter(|_| copy.policy == self.policy.digest),
            None => {
                let rules = crate::abuse::documents(self.config, address);
                let reservation = crate::abuse::reserve(self.db, &rules, now).await?;
                if let crate::abuse::Verdict::Refused(_) = reservation.verdict {
                    return Err(DocumentError::Throttled);
                }
                None
            }
        };
        let fetched = self
            .keeper
            .fetcher
            .get_cached_json(client_id, etag.as_deref())
            .await
            .map_err(|e| {
                DocumentError::Refused(format!(
                    "The client's metadata document could not be fetched from {client_id}: {e}."
                ))
            })?;
        let fresh_for = fetched
            .fresh_for
            .map_or(DEFAULT_FRESH, |s| i64::try_from(s).unwrap_or(MAX_FRESH))
            .clamp(MIN_FRESH, MAX_FRESH);
        let copy = DocumentCopy {
            expires_at: now + fresh_for,
            etag: fetched.etag,
            policy: self.policy.digest.clone(),
        };
        match (fetched.body, current) {
            (None, Some(mut unchanged)) => {
                unchanged.document = Some(copy);
                self.overwrite(&unchanged, None, false, now).await
            }
            (None, None) => Err(DocumentError::Refused(
                "The client's metadata document answered 304 to a plain request.".into(),
            )),
            (Some(body), None) => {
                let fresh = self.read(client_id, &body, copy, now).await?;
                self.insert(&fresh, now).await
            }
            (Some(body), Some(current)) => {
                let fresh = self.read(client_id, &body, copy, now).await?;
                self.replace(fresh, current, now).await
            }
        }
    }

    /// The client a document describes, held to the policy as an app's registration is.
    async fn read(
        &self,
        client_id: &str,
        body: &[u8],
        copy: DocumentCopy,
        now: UnixTime,
    ) -> Result<Client, DocumentError> {
        let refused =
            |why: String| DocumentError::Refused(format!("The client's metadata document {why}."));
        let document: Value =
            serde_json::from_slice(body).map_err(|e| refused(format!("is not JSON: {e}")))?;
        let map = document
            .as_object()
            .ok_or_else(|| refused("is not a JSON object".into()))?;
        if map.get("client_id").and_then(Value::as_str) != Some(client_id) {
            return Err(refused(format!(
                "must name itself: its client_id must be {client_id}"
            )));
        }
        for secret in ["client_secret", "client_secret_expires_at"] {
            if map.contains_key(secret) {
                return Err(refused(format!(
                    "must not carry {secret}: nothing published is secret"
                )));
            }
        }
        let mut reg = dynamic::read(&document)
            .map_err(|e| refused(format!("'s {e}")))?
            .registration;
        if !map.contains_key("client_name") {
            // Without a name, the app is shown by where its document is.
            reg.name = Url::parse(client_id)
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned))
                .unwrap_or_default();
        }
        let method = reg
            .token_endpoint_auth_method
            .get_or_insert_with(|| AuthMethod::None.as_str().to_owned());
        if method != AuthMethod::None.as_str() && method != AuthMethod::PrivateKeyJwt.as_str() {
            return Err(refused(format!(
                "names token_endpoint_auth_method {method}, which needs a shared secret that \
                 no published document can give: use none or private_key_jwt"
            )));
        }
        let mut reg = self
            .policy
            .admit(reg)
            .map_err(|e| refused(format!("'s {e}")))?;
        reg.resources = dynamic::open_resources(self.db, self.policy).await?;
        let Registered { mut client, .. } = registration::prepare(reg, self.keeper, now)?;
        client.client_id = client_id.to_owned();
        if client.sector.is_some() {
            // A sector of its own is named after the client: after this one, not the id
            // `prepare` made up.
            client.sector = Some(
                super::subject::sector_of(
                    client_id,
                    &client.redirect_uris,
                    client.sector_identifier_uri.as_deref(),
                )
                .map_err(|why| refused(format!("'s sector: {why}")))?,
            );
        }
        client.document = Some(copy);
        Ok(client)
    }

    /// The first copy: a new client (another instance that wrote it first wins: its copy is
    /// as fresh).
    async fn insert(&self, fresh: &Client, now: UnixTime) -> Result<(), DocumentError> {
        let logo = registration::check_fetched(self.db, self.keeper.fetcher, fresh).await?;
        let txn = self.db.begin().await.map_err(StoreError::from)?;
        match registration::store_new(&txn, fresh, logo.as_ref(), now).await {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        txn.commit().await.map_err(StoreError::from)?;
        tracing::info!(action = "client.document", client_id = %fresh.client_id, "an app was described by its metadata document");
        Ok(())
    }

    /// A new copy of a changed document, over the row `current` was read from. What it
    /// names (sector, logo) is fetched again only when that changed; a client that drops its
    /// key or moves to other redirect hosts starts again, as an app's new registration does.
    async fn replace(
        &self,
        mut fresh: Client,
        current: Client,
        now: UnixTime,
    ) -> Result<(), DocumentError> {
        let fetcher = self.keeper.fetcher;
        registration::keeps_subjects(&current, &fresh).map_err(|e| {
            DocumentError::Refused(format!("The client's metadata document's {e}."))
        })?;
        if fresh.sector_identifier_uri != current.sector_identifier_uri
            || fresh.redirect_uris != current.redirect_uris
        {
            registration::check_sector(fetcher, &fresh).await?;
        }
        let logo = if fresh.logo_uri != current.logo_uri {
            Some(registration::fetch_logo(fetcher, &fresh).await?)
        } else {
            None
        };
        let start_again = registration::starts_again(&current, &fresh);
        fresh.created_at = current.created_at;
        fresh.revision = current.revision;
        self.overwrite(&fresh, logo, start_again, now).await
    }

    async fn overwrite(
        &self,
        client: &Client,
        logo: Option<Option<store::client_logos::Logo>>,
        start_again: bool,
        now: UnixTime,
    ) -> Result<(), DocumentError> {
        let txn = self.db.begin().await.map_err(StoreError::from)?;
        match store::clients::update(&txn, client).await {
            Ok(()) => {}
            // Another instance wrote a copy first, or an operator removed the client (the
            // lookup that follows says so).
            Err(StoreError::Stale | StoreError::NotFound) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        if let Some(logo) = logo {
            registration::keep_logo(&txn, &client.client_id, logo.as_ref(), now).await?;
        }
        if start_again {
            store::grants::revoke_for_client(&txn, &client.client_id, now).await?;
            store::consents::forget_client(&txn, &client.client_id).await?;
        }
        txn.commit().await.map_err(StoreError::from)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_id_urls_follow_the_drafts_rules() {
        let check = |id: &str| check_id(id, false, &[], &[]);
        assert!(check("https://app.example.com/oauth/client.json").is_ok());
        assert!(check("https://app.example.com/client?v=2").is_ok());
        for (id, says) in [
            ("https://app.example.com/", "path"),
            ("https://app.example.com", "normal form"),
            ("http://app.example.com/client.json", "https"),
            ("https://app.example.com/a/../client.json", "normal form"),
            ("https://app.example.com/./client.json", "normal form"),
            ("https://App.Example.com/client.json", "normal form"),
            ("https://app.example.com:443/client.json", "normal form"),
            ("https://app.example.com/client.json#x", "fragment"),
            ("https://me:pw@app.example.com/client.json", "credentials"),
            ("https://10.0.0.1/client.json", "public"),
        ] {
            let why = check(id).unwrap_err();
            assert!(why.contains(says), "{id}: {why}");
        }
        let long = format!("https://app.example.com/{}", "a".repeat(MAX_ID_LEN));
        assert!(check(&long).is_err());
        let hosts = ["app.example.com".to_owned()];
        assert!(check_id("https://app.example.com/c", false, &hosts, &[]).is_ok());
        assert!(check_id("https://other.example.com/c", false, &hosts, &[])
            .unwrap_err()
            .contains("document_hosts"));
        assert!(check_id("http://127.0.0.1:8080/c", true, &[], &[]).is_ok());
        let blocked = [
            "bad.example.com".to_owned(),
            "https://app.example.com/x".to_owned(),
        ];
        for id in ["https://bad.example.com/c", "https://app.example.com/x"] {
            assert!(check_id(id, false, &[], &blocked)
                .unwrap_err()
                .contains("blocked_documents"));
        }
        assert!(check_id("https://app.example.com/y", false, &[], &blocked).is_ok());
        assert!(!names_document("s6BhdRkqt3"));
        assert!(names_document("https://app.example.com/c"));
    }
}
