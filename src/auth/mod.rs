//! Authentication: the [`TenantId`] a request acts for, the [`KeySet`] that verifies bearer
//! tokens, and the actix extractor that turns `Authorization: Bearer …` into a tenant.

mod guard;
mod keys;
mod tenant;

pub use guard::{authenticate, AuthError};
pub use keys::{KeySet, SigningKey, MIN_SECRET_BYTES};
pub use tenant::{TenantId, TenantIdError};
