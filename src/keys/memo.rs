//! What recently verified tokens said, so that a token presented again (a resource server
//! introspecting the bearer of each of its requests, a client calling userinfo) is not
//! verified again with RSA. A memo belongs to one [`KeySet`](super::KeySet): when the
//! published keys change the set is replaced, and its memo with it, so a token never outlives
//! its key here. Callers re-check everything that depends on the time (expiry) and on the
//! database (revocation) on every use; only what the signature proves is remembered.
//!
//! The table is direct-mapped: each token has one slot, chosen by its digest, and a new entry
//! replaces whatever held that slot. Its size is fixed, a lookup never scans, and a flood of
//! distinct tokens only costs each of them the verification it would have had anyway.

use std::sync::Mutex;

use crate::crypto;

/// Slots per key set: enough for the bearers a busy instance sees again within seconds,
/// small enough to stay a few hundred KiB.
pub const SLOTS: usize = 1024;

/// The digest a token is remembered by: SHA-256 of the issuer it was checked against and
/// the token's whole text.
pub type Digest = [u8; 32];

pub fn digest(issuer: &str, token: &str) -> Digest {
    crypto::sha256_parts(&[issuer.as_bytes(), &[0], token.as_bytes()])
}

/// One slot: the digest of the token it remembers, and what that token said.
type Slot<T> = Mutex<Option<(Digest, T)>>;

pub struct Memo<T> {
    slots: Box<[Slot<T>]>,
}

impl<T> std::fmt::Debug for Memo<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Memo")
            .field("slots", &self.slots.len())
            .finish()
    }
}

impl<T: Clone> Memo<T> {
    pub fn new(slots: usize) -> Self {
        Self {
            slots: (0..slots.max(1)).map(|_| Mutex::new(None)).collect(),
        }
    }

    fn slot(&self, key: &Digest) -> Option<&Slot<T>> {
        let mut prefix = [0u8; 8];
        prefix.copy_from_slice(&key[..8]);
        // The modulo of a uniformly random 64-bit number: every slot equally likely.
        let index = u64::from_le_bytes(prefix) % self.slots.len() as u64;
        self.slots.get(usize::try_from(index).ok()?)
    }

    /// What was remembered for this digest, if its slot still holds it. A poisoned slot
    /// (a panic while it was held) reads as empty.
    pub fn get(&self, key: &Digest) -> Option<T> {
        let guard = self.slot(key)?.lock().ok()?;
        match guard.as_ref() {
            Some((k, value)) if crypto::constant_time_eq(k, key) => Some(value.clone()),
            _ => None,
        }
    }

    pub fn put(&self, key: Digest, value: T) {
        let Some(slot) = self.slot(&key) else {
            return;
        };
        let mut guard = match slot.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        *guard = Some((key, value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_by_digest_and_a_newcomer_takes_the_slot() {
        let memo = Memo::new(1);
        let a = digest("https://issuer", "token-a");
        let b = digest("https://issuer", "token-b");
        assert_eq!(memo.get(&a), None::<u32>);
        memo.put(a, 1);
        assert_eq!(memo.get(&a), Some(1));
        assert_eq!(memo.get(&b), None);
        // One slot: b replaces a.
        memo.put(b, 2);
        assert_eq!(memo.get(&b), Some(2));
        assert_eq!(memo.get(&a), None);
    }

    #[test]
    fn the_issuer_is_part_of_the_digest() {
        assert_ne!(digest("https://a", "t"), digest("https://b", "t"));
        // The separator keeps "ab" + "c" apart from "a" + "bc".
        assert_ne!(digest("ab", "c"), digest("a", "bc"));
        assert_eq!(digest("ab", "c"), crypto::sha256(b"ab\0c"));
    }

    #[test]
    fn spreads_over_its_slots() {
        let memo = Memo::new(SLOTS);
        for i in 0..SLOTS {
            memo.put(digest("i", &i.to_string()), i);
        }
        let kept = (0..SLOTS)
            .filter(|i| memo.get(&digest("i", &i.to_string())) == Some(*i))
            .count();
        // Uniform hashing keeps about 1 - 1/e of them (63%).
        assert!(kept > SLOTS / 2, "{kept} of {SLOTS}");
    }
}
