//! The active signing keys and the policy tokens are checked against (algorithm family pinned to
//! the key, `exp`/`nbf` with leeway, optional audience).

use super::{AuthError, TenantId};
use crate::config::{AuthSettings, KeyFamily, Secret};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// Shortest HMAC secret accepted: RFC 7518 asks for a key as long as the hash (256 bits for HS256).
pub const MIN_SECRET_BYTES: usize = 32;

/// One verified key, ready for use.
pub struct SigningKey {
    pub kid: Option<String>,
    pub family: KeyFamily,
    decoding: DecodingKey,
    /// For `cortex-gateway token`, which mints tokens with the configured key; public keys have
    /// no signing part.
    encoding: Option<EncodingKey>,
    /// SHA-256 of the key material: tells keys apart without keeping or showing the secret.
    digest: [u8; 32],
}

impl SigningKey {
    pub fn hmac(kid: Option<String>, secret: &Secret) -> Self {
        Self {
            kid,
            family: KeyFamily::Hmac,
            decoding: DecodingKey::from_secret(secret.expose().as_bytes()),
            encoding: Some(EncodingKey::from_secret(secret.expose().as_bytes())),
            digest: Sha256::digest(secret.expose().as_bytes()).into(),
        }
    }

    /// A key of the `rsa`, `ec` or `eddsa` family from its PEM public key.
    pub fn public(kid: Option<String>, family: KeyFamily, pem: &[u8]) -> Result<Self, String> {
        let decoding = match family {
            KeyFamily::Rsa => DecodingKey::from_rsa_pem(pem),
            KeyFamily::Ec => DecodingKey::from_ec_pem(pem),
            KeyFamily::Eddsa => DecodingKey::from_ed_pem(pem),
            KeyFamily::Hmac => return Err("an hmac key has a secret, not a public key".into()),
        }
        .map_err(|err| format!("not a PEM public key of the {family:?} family: {err}"))?;
        Ok(Self {
            kid,
            family,
            decoding,
            encoding: None,
            digest: Sha256::digest(pem).into(),
        })
    }
}

/// Every key that may sign a token, with the checks applied to each token.
pub struct KeySet {
    keys: Vec<SigningKey>,
    /// One per family, each allowing only that family's algorithms.
    validations: [Validation; 4],
}

/// The claims the gateway reads, as the original defined them. Other claims are ignored; `aud`,
/// `exp` and `nbf` are checked by the validation.
#[derive(Deserialize)]
struct Claims {
    tenant_id: String,
    /// Unused, but must be an integer when present, as the original required.
    #[serde(default)]
    #[allow(dead_code)]
    version: Option<i64>,
}

impl KeySet {
    pub fn new(keys: Vec<SigningKey>, policy: &AuthSettings) -> Self {
        let validation = |family: KeyFamily| {
            let algorithms = algorithms_of(family);
            let mut validation = Validation::new(algorithms[0]);
            validation.algorithms = algorithms.to_vec();
            validation.leeway = policy.leeway.as_secs();
            validation.validate_nbf = true;
            validation.required_spec_claims.clear();
            if policy.require_exp {
                validation.required_spec_claims.insert("exp".into());
            }
            if policy.audiences.is_empty() {
                validation.validate_aud = false;
            } else {
                validation.set_audience(&policy.audiences);
            }
            validation
        };
        Self {
            keys,
            validations: FAMILIES.map(validation),
        }
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Signs `claims` with the key named `kid`, or with the first configured key. The header
    /// names the key's kid, so the gateway checks the token against that key alone.
    pub fn sign<T: serde::Serialize>(
        &self,
        kid: Option<&str>,
        algorithm: Algorithm,
        claims: &T,
    ) -> Result<String, String> {
        let key = match kid {
            Some(kid) => self
                .keys
                .iter()
                .find(|key| key.kid.as_deref() == Some(kid))
                .ok_or_else(|| format!("no configured key has kid {kid:?}"))?,
            None => self.keys.first().ok_or("no signing key is configured")?,
        };
        let encoding = key.encoding.as_ref().ok_or_else(|| {
            format!(
                "key {} is a public key and cannot sign; mint with an hmac key",
                key.kid.as_deref().unwrap_or("(first)")
            )
        })?;
        if family_of(algorithm) != Some(key.family) {
            return Err(format!("{algorithm:?} does not belong to the key's family"));
        }
        let mut header = Header::new(algorithm);
        header.kid = key.kid.clone();
        jsonwebtoken::encode(&header, claims, encoding).map_err(|err| err.to_string())
    }

    /// Digest of every key (id, family, material digest), for telling configurations apart.
    pub fn fingerprint(&self) -> [u8; 32] {
        let mut hasher = Sha256::new();
        for key in &self.keys {
            hasher.update(key.kid.as_deref().unwrap_or_default());
            hasher.update([0, key.family as u8]);
            hasher.update(key.digest);
        }
        hasher.finalize().into()
    }

    /// Verifies a compact JWT and returns the tenant it speaks for.
    pub fn verify(&self, token: &str) -> Result<TenantId, AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| {
            AuthError::Malformed("token header is not a JWT header with a supported alg")
        })?;
        let family = family_of(header.alg).ok_or(AuthError::AlgorithmNotAllowed(header.alg))?;
        let validation = &self.validations[family as usize];
        let mut candidates = self
            .keys
            .iter()
            .filter(|key| key.family == family)
            .filter(|key| header.kid.is_none() || key.kid == header.kid)
            .peekable();
        if candidates.peek().is_none() {
            return Err(match header.kid {
                Some(_) => AuthError::UnknownKeyId,
                None => AuthError::AlgorithmNotAllowed(header.alg),
            });
        }
        for key in candidates {
            match jsonwebtoken::decode::<Claims>(token, &key.decoding, validation) {
                Ok(data) => {
                    return TenantId::parse(&data.claims.tenant_id).map_err(AuthError::BadTenant)
                }
                // Signed by another key, perhaps the next one of a rotation.
                Err(err) if *err.kind() == ErrorKind::InvalidSignature => continue,
                Err(err) => return Err(classify(err.into_kind())),
            }
        }
        Err(AuthError::BadSignature)
    }
}

const FAMILIES: [KeyFamily; 4] = [
    KeyFamily::Hmac,
    KeyFamily::Rsa,
    KeyFamily::Ec,
    KeyFamily::Eddsa,
];

fn algorithms_of(family: KeyFamily) -> &'static [Algorithm] {
    match family {
        KeyFamily::Hmac => &[Algorithm::HS256, Algorithm::HS384, Algorithm::HS512],
        KeyFamily::Rsa => &[
            Algorithm::RS256,
            Algorithm::RS384,
            Algorithm::RS512,
            Algorithm::PS256,
            Algorithm::PS384,
            Algorithm::PS512,
        ],
        KeyFamily::Ec => &[Algorithm::ES256, Algorithm::ES384],
        KeyFamily::Eddsa => &[Algorithm::EdDSA],
    }
}

/// The family a token's `alg` belongs to. Only a key of that family is ever tried, so a token
/// cannot, for instance, pass an RSA public key off as an HMAC secret.
fn family_of(alg: Algorithm) -> Option<KeyFamily> {
    FAMILIES
        .into_iter()
        .find(|family| algorithms_of(*family).contains(&alg))
}

/// Failures after the signature matched: claims that do not hold.
fn classify(kind: ErrorKind) -> AuthError {
    match kind {
        ErrorKind::ExpiredSignature => AuthError::Expired,
        ErrorKind::ImmatureSignature => AuthError::NotYetValid,
        ErrorKind::InvalidAudience => AuthError::BadAudience,
        ErrorKind::MissingRequiredClaim(claim) => {
            AuthError::BadClaims(format!("token has no '{claim}' claim"))
        }
        ErrorKind::InvalidAlgorithm => AuthError::AlgorithmNotAllowed(Algorithm::HS256),
        ErrorKind::Json(err) => AuthError::BadClaims(strip_position(&err.to_string())),
        ErrorKind::Base64(_) | ErrorKind::Utf8(_) | ErrorKind::InvalidToken => {
            AuthError::Malformed("token is not a well-formed JWT")
        }
        _ => AuthError::Malformed("token could not be verified"),
    }
}

/// serde_json appends "at line 1 column 42", which means nothing to someone holding a token.
fn strip_position(message: &str) -> String {
    let trimmed = message.split(" at line ").next().unwrap_or(message);
    format!("token claims are invalid: {trimmed}")
}
