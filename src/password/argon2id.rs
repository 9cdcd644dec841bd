//! argon2id itself: hashes as PHC strings and their verification, computed in a thread's
//! reusable argon2 memory.

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};

use crate::crypto::{random_bytes, CryptoError};

/// glibc's largest dynamic mmap threshold (64-bit): a block at least this large is always
/// its own mapping, returned to the system when freed. Smaller ones may come from a thread
/// arena that keeps them resident.
const ALWAYS_MAPPED_BYTES: usize = 32 * 1024 * 1024 + 4096;

/// A zeroed argon2 buffer of `blocks`. Its capacity is reserved past the always-mapped size
/// (untouched pages cost no memory), so dropping it really frees it.
fn argon2_memory(blocks: usize) -> Vec<Block> {
    let floor = ALWAYS_MAPPED_BYTES.div_ceil(std::mem::size_of::<Block>());
    let mut memory = Vec::with_capacity(blocks.max(floor));
    memory.resize(blocks, Block::default());
    memory
}

/// The raw argon2 output for `password` and `salt`, computed in `memory` (grown to fit).
fn compute(
    argon: &Argon2<'_>,
    params: &Params,
    password: &[u8],
    salt: &[u8],
    memory: &mut Vec<Block>,
) -> Result<Output, CryptoError> {
    let blocks = params.block_count();
    if memory.len() < blocks {
        *memory = argon2_memory(blocks);
    }
    let len = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
    Output::init_with(len, |out| {
        argon
            .hash_password_into_with_memory(password, salt, out, &mut memory[..])
            .map_err(|_| argon2::password_hash::Error::Crypto)
    })
    .map_err(|e| CryptoError::PasswordHash(e.to_string()))
}

/// A new argon2id hash of `password` under `params`, with a random salt, as a PHC string.
pub(super) fn hash_with(
    params: &Params,
    password: &str,
    memory: &mut Vec<Block>,
) -> Result<String, CryptoError> {
    let salt_bytes = random_bytes::<16>()?;
    let salt = SaltString::encode_b64(&salt_bytes).map_err(password_error)?;
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let output = compute(&argon, params, password.as_bytes(), &salt_bytes, memory)?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(password_error)?,
        salt: Some(salt.as_salt()),
        hash: Some(output),
    };
    Ok(phc.to_string())
}

/// Verifies with the algorithm and parameters recorded in the PHC string, so hashes made
/// under older parameters keep working. The outputs are compared in constant time.
pub(super) fn verify_with(
    password: &str,
    phc: &str,
    memory: &mut Vec<Block>,
) -> Result<bool, CryptoError> {
    let parsed = PasswordHash::new(phc).map_err(password_error)?;
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return Ok(false);
    };
    let algorithm = Algorithm::try_from(parsed.algorithm).map_err(password_error)?;
    let version = parsed
        .version
        .map(Version::try_from)
        .transpose()
        .map_err(|e| CryptoError::PasswordHash(e.to_string()))?
        .unwrap_or_default();
    let params = Params::try_from(&parsed).map_err(password_error)?;
    let mut salt_buf = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_buf).map_err(password_error)?;
    let argon = Argon2::new(algorithm, version, params.clone());
    let computed = compute(&argon, &params, password.as_bytes(), salt_bytes, memory)?;
    // `Output`'s equality is constant-time.
    Ok(computed == expected)
}

fn password_error(e: argon2::password_hash::Error) -> CryptoError {
    CryptoError::PasswordHash(e.to_string())
}
