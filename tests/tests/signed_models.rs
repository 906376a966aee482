//! Signed models (`vigie_core::signature`): the firmware demo's models are
//! signed with the demo key (`firmware-demo/keys/`), and a device that
//! holds the public key runs nothing else.

use vigie_core::signature::{self, TRAILER_LEN};
use vigie_core::{Error, Model};
use vigie_tests::{demo_public_key, firmware_file};

#[test]
fn every_single_bit_flip_of_a_signed_model_is_refused() {
    let signed = firmware_file("models/basicmotions.vigie");
    let key = demo_public_key();
    assert!(Model::from_bytes_signed(&signed, &key).is_ok());
    let mut bad = signed.clone();
    let mut refused = 0;
    for byte in 0..signed.len() {
        for bit in 0..8 {
            bad[byte] ^= 1 << bit;
            assert!(
                Model::from_bytes_signed(&bad, &key).is_err(),
                "byte {byte} bit {bit} flipped was accepted"
            );
            refused += 1;
            bad[byte] ^= 1 << bit;
        }
    }
    assert_eq!(refused, 8 * signed.len());
}

#[test]
fn another_key_and_no_signature_are_refused_each_with_its_own_error() {
    let signed = firmware_file("models/digits.vigie");
    let key = demo_public_key();
    // Re-signed with another key (any seed but the demo one).
    let other = signature::sign(&signed, &[42; 32]).unwrap();
    assert!(Model::from_bytes(&other).is_ok(), "it is a valid model");
    assert_eq!(
        Model::from_bytes_signed(&other, &key).err(),
        Some(Error::SignatureWrongKey)
    );
    // The signature taken off: the header with its flag cleared, the body.
    let (header, body) = vigie_core::format::split_file(&signed).unwrap();
    let header = vigie_core::format::Header {
        flags: header.flags & !vigie_core::format::FLAG_TRAILER,
        ..header
    };
    let mut unsigned = header.to_bytes().to_vec();
    unsigned.extend_from_slice(body);
    assert!(Model::from_bytes(&unsigned).is_ok());
    assert_eq!(
        Model::from_bytes_signed(&unsigned, &key).err(),
        Some(Error::SignatureMissing)
    );
    assert_eq!(signed.len(), unsigned.len() + TRAILER_LEN);
}
