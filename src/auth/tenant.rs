//! Tenant IDs as Cortex and Mimir accept them; an invalid one cannot be constructed.

use actix_web::http::header::HeaderValue;
use std::fmt;

/// Cortex's limit on a tenant ID's length in bytes.
pub const MAX_TENANT_ID_BYTES: usize = 150;

/// A tenant ID valid for Cortex and Mimir, kept as the ready-made `X-Scope-OrgID` header value.
/// `|` is not allowed, so one token can never name a second tenant for a federated read.
#[derive(Clone, PartialEq, Eq)]
pub struct TenantId(HeaderValue);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TenantIdError {
    #[error("tenant ID is empty")]
    Empty,
    #[error("tenant ID is longer than {MAX_TENANT_ID_BYTES} bytes")]
    TooLong,
    #[error("tenant ID must not be '.' or '..'")]
    DotSegment,
    #[error("tenant ID contains {0:?}; allowed are letters, digits and ! - _ . * ' ( )")]
    InvalidCharacter(char),
}

impl TenantId {
    pub fn parse(raw: &str) -> Result<Self, TenantIdError> {
        if raw.is_empty() {
            return Err(TenantIdError::Empty);
        }
        if raw.len() > MAX_TENANT_ID_BYTES {
            return Err(TenantIdError::TooLong);
        }
        if raw == "." || raw == ".." {
            return Err(TenantIdError::DotSegment);
        }
        if let Some(bad) = raw.chars().find(|c| !is_tenant_char(*c)) {
            return Err(TenantIdError::InvalidCharacter(bad));
        }
        // Every allowed character is visible ASCII, so this cannot fail.
        let value = HeaderValue::from_str(raw).map_err(|_| TenantIdError::InvalidCharacter('?'))?;
        Ok(Self(value))
    }

    pub fn as_str(&self) -> &str {
        // Built only from visible ASCII in `parse`.
        self.0.to_str().unwrap_or_default()
    }

    pub fn header_value(&self) -> &HeaderValue {
        &self.0
    }
}

fn is_tenant_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '!' | '-' | '_' | '.' | '*' | '\'' | '(' | ')')
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TenantId({})", self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_cortex_tenant_ids() {
        for ok in ["development", "team-a", "A_b.c", "x!*'()", &"a".repeat(150)] {
            assert_eq!(TenantId::parse(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn refuses_what_cortex_refuses() {
        assert_eq!(TenantId::parse(""), Err(TenantIdError::Empty));
        assert_eq!(TenantId::parse("."), Err(TenantIdError::DotSegment));
        assert_eq!(TenantId::parse(".."), Err(TenantIdError::DotSegment));
        assert_eq!(
            TenantId::parse(&"a".repeat(151)),
            Err(TenantIdError::TooLong)
        );
        assert_eq!(
            TenantId::parse("team-a|team-b"),
            Err(TenantIdError::InvalidCharacter('|'))
        );
        for bad in ["a b", "a/b", "a\nb", "ä", "a:b", "a%7c"] {
            assert!(TenantId::parse(bad).is_err(), "{bad:?} must be refused");
        }
    }
}
