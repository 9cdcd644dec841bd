//! What recently verified tokens said, so that a token presented again is not verified again
//! with RSA. Each entry is remembered by a digest that includes the id of the key set it was
//! verified under ([`KeySet::id`](crate::keys::KeySet::id)): when the published keys change,
//! no entry made before is found again, so a token never outlives its key here. Callers
//! re-check everything that depends on the time (expiry) and on the database (revocation) on
//! every use; only what the signature proves is remembered.
//!
//! The table is direct-mapped: each token has one slot, chosen by its digest, and a new entry
//! replaces whatever held that slot. Its size is fixed, a lookup never scans, and a flood of
//! distinct tokens only costs each of them the verification it would have had anyway.

use std::sync::Mutex;

use crate::crypto;

/// Slots per instance: enough for the bearers a busy instance sees again within seconds,
/// small enough to stay a few hundred KiB.
pub const SLOTS: usize = 1024;

/// The digest a token is remembered by: SHA-256 of the key set it was verified under, the
/// issuer it was checked against and the token's whole text.
pub type Digest = [u8; 32];

pub fn digest(key_set: u64, issuer: &str, token: &str) -> Digest {
    crypto::sha256_parts(&[
        &key_set.to_le_bytes(),
        issuer.as_bytes(),
        &[0],
        token.as_bytes(),
    ])
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
        let a = digest(1, "https://issuer", "token-a");
        let b = digest(1, "https://issuer", "token-b");
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
    fn the_key_set_and_the_issuer_are_part_of_the_digest() {
        assert_ne!(digest(1, "https://a", "t"), digest(2, "https://a", "t"));
        assert_ne!(digest(1, "https://a", "t"), digest(1, "https://b", "t"));
        // The separator keeps "ab" + "c" apart from "a" + "bc".
        assert_ne!(digest(1, "ab", "c"), digest(1, "a", "bc"));
        assert_eq!(
            digest(1, "ab", "c"),
            crypto::sha256(b"\x01\0\0\0\0\0\0\0ab\0c")
        );
    }

    #[test]
    fn spreads_over_its_slots() {
        let memo = Memo::new(SLOTS);
        for i in 0..SLOTS {
            memo.put(digest(1, "i", &i.to_string()), i);
        }
        let kept = (0..SLOTS)
            .filter(|i| memo.get(&digest(1, "i", &i.to_string())) == Some(*i))
            .count();
        // Uniform hashing keeps about 1 - 1/e of them (63%).
        assert!(kept > SLOTS / 2, "{kept} of {SLOTS}");
    }
}
