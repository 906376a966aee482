//! Signed models: an Ed25519 signature in the file's trailer.
//!
//! A CRC catches accidents, not a forged model. A signed file sets header
//! flag bit 0 ([`crate::format::FLAG_TRAILER`]) and ends with a trailer of
//! [`TRAILER_LEN`] bytes:
//!
//! ```text
//! offset  size  field
//!      0     4  the bytes `ED25`
//!      4    32  the signer's Ed25519 public key
//!     36    64  the Ed25519 signature (RFC 8032) of the header and the body
//! ```
//!
//! The signed message is the file up to the trailer: the 16 header bytes,
//! flag included, and the body, so nothing a reader acts on is outside the
//! signature. The key in the trailer is not trusted: it only tells a
//! refusal for another key ([`Error::SignatureWrongKey`]) from one for a
//! changed file ([`Error::SignatureInvalid`]). A reader that does not
//! verify ([`crate::Model::from_bytes`]) ignores the trailer.
//!
//! Verification is `ed25519-compact` (no_std, no heap). Signing needs the
//! `alloc` feature (the host's `vigie sign`).

use ed25519_compact::{PublicKey, Signature};

use crate::format::{split_file, FLAG_TRAILER, HEADER_LEN};
use crate::Error;

/// The first bytes of a signature trailer.
pub const TRAILER_TAG: [u8; 4] = *b"ED25";
/// Bytes of an Ed25519 public key.
pub const PUBLIC_KEY_LEN: usize = 32;
/// Bytes of an Ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;
/// Bytes of the trailer of a signed file.
pub const TRAILER_LEN: usize = TRAILER_TAG.len() + PUBLIC_KEY_LEN + SIGNATURE_LEN;

/// A signed file cut up: the signed part (header and body), the body,
/// the trailer.
type Parts<'a> = (&'a [u8], &'a [u8], &'a [u8]);

/// The parts of a signed file, after the header, length and CRC checks
/// of [`split_file`].
fn parts(bytes: &[u8]) -> Result<Parts<'_>, Error> {
    let (header, body) = split_file(bytes)?;
    if header.flags & FLAG_TRAILER == 0 {
        return Err(Error::SignatureMissing);
    }
    // split_file checked that the body and at least one trailer byte are
    // there.
    let signed = HEADER_LEN + header.body_len as usize;
    let (signed, trailer) = bytes.split_at(signed.min(bytes.len()));
    Ok((signed, body, trailer))
}

/// The key a trailer names, once its form is checked.
fn trailer_key(trailer: &[u8]) -> Result<[u8; PUBLIC_KEY_LEN], Error> {
    if trailer.len() != TRAILER_LEN || trailer[..4] != TRAILER_TAG {
        return Err(Error::SignatureMalformed {
            len: trailer.len().min(u32::MAX as usize) as u32,
        });
    }
    let mut key = [0u8; PUBLIC_KEY_LEN];
    key.copy_from_slice(&trailer[4..4 + PUBLIC_KEY_LEN]);
    Ok(key)
}

/// The public key a signed file names in its trailer (not a proof of
/// anything until [`verify`] accepts the file for that key).
pub fn signer(bytes: &[u8]) -> Result<[u8; PUBLIC_KEY_LEN], Error> {
    trailer_key(parts(bytes)?.2)
}

/// Checks that `bytes` is a model file signed by `public_key`: the header
/// and CRC checks of any load, then the trailer's form, its key, and the
/// Ed25519 signature of the header and body. Distinct errors for an
/// unsigned file, a malformed trailer, another key and a changed file.
pub fn verify(bytes: &[u8], public_key: &[u8; PUBLIC_KEY_LEN]) -> Result<(), Error> {
    verified_body(bytes, public_key).map(|_| ())
}

/// [`verify`], returning the body it checked, so that a signed load
/// decodes it without checking the header and CRC a second time.
pub(crate) fn verified_body<'a>(
    bytes: &'a [u8],
    public_key: &[u8; PUBLIC_KEY_LEN],
) -> Result<&'a [u8], Error> {
    let (signed, body, trailer) = parts(bytes)?;
    if &trailer_key(trailer)? != public_key {
        return Err(Error::SignatureWrongKey);
    }
    let mut sig = [0u8; SIGNATURE_LEN];
    sig.copy_from_slice(&trailer[4 + PUBLIC_KEY_LEN..]);
    PublicKey::new(*public_key)
        .verify(signed, &Signature::new(sig))
        .map_err(|_| Error::SignatureInvalid)?;
    Ok(body)
}

/// The Ed25519 public key of a 32-byte secret seed.
#[cfg(feature = "alloc")]
pub fn public_key(seed: &[u8; 32]) -> [u8; PUBLIC_KEY_LEN] {
    let pair = ed25519_compact::KeyPair::from_seed(ed25519_compact::Seed::new(*seed));
    *pair.pk
}

/// `bytes` (a model file, signed or not) signed with the key of `seed`:
/// header flag bit 0 set, any old trailer replaced. Deterministic (RFC
/// 8032): the same file and key give the same bytes.
#[cfg(feature = "alloc")]
pub fn sign(bytes: &[u8], seed: &[u8; 32]) -> Result<alloc::vec::Vec<u8>, Error> {
    let (header, body) = split_file(bytes)?;
    let signed_header = crate::format::Header {
        flags: header.flags | FLAG_TRAILER,
        ..header
    };
    let mut out = alloc::vec::Vec::with_capacity(HEADER_LEN + body.len() + TRAILER_LEN);
    out.extend_from_slice(&signed_header.to_bytes());
    out.extend_from_slice(body);
    let pair = ed25519_compact::KeyPair::from_seed(ed25519_compact::Seed::new(*seed));
    let sig = pair.sk.sign(&out, None);
    out.extend_from_slice(&TRAILER_TAG);
    out.extend_from_slice(&pair.pk[..]);
    out.extend_from_slice(&sig[..]);
    Ok(out)
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;

    /// A small valid model file, unsigned (the firmware's digits MLP,
    /// its signature taken off).
    fn model() -> &'static [u8] {
        static UNSIGNED: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
        UNSIGNED.get_or_init(|| {
            let file: &[u8] = include_bytes!("../../firmware-demo/models/digits.vigie");
            let (header, body) = split_file(file).unwrap();
            let header = crate::format::Header {
                flags: header.flags & !FLAG_TRAILER,
                ..header
            };
            let mut out = header.to_bytes().to_vec();
            out.extend_from_slice(body);
            out
        })
    }

    const SEED: [u8; 32] = [7; 32];
    const OTHER: [u8; 32] = [9; 32];

    #[test]
    fn a_signed_model_verifies_and_still_loads_without_verification() {
        let signed = sign(model(), &SEED).unwrap();
        assert_eq!(verify(&signed, &public_key(&SEED)), Ok(()));
        assert!(crate::Model::from_bytes(&signed).is_ok());
        // Signing is deterministic, and re-signing replaces the trailer.
        assert_eq!(sign(&signed, &SEED).unwrap(), signed);
    }

    #[test]
    fn unsigned_other_key_and_changed_files_get_distinct_errors() {
        let pk = public_key(&SEED);
        assert_eq!(verify(model(), &pk), Err(Error::SignatureMissing));
        let other = sign(model(), &OTHER).unwrap();
        assert_eq!(verify(&other, &pk), Err(Error::SignatureWrongKey));
        // The other key's trailer with our key written in: still refused.
        let mut forged = other.clone();
        let at = forged.len() - TRAILER_LEN + 4;
        forged[at..at + 32].copy_from_slice(&pk);
        assert_eq!(verify(&forged, &pk), Err(Error::SignatureInvalid));
        // A truncated trailer.
        let signed = sign(model(), &SEED).unwrap();
        assert!(matches!(
            verify(&signed[..signed.len() - 1], &pk),
            Err(Error::SignatureMalformed { .. })
        ));
    }
}
