//! Password hashing: argon2id with tunable cost (cheap in tests, strong by default), run on
//! the blocking pool so it never stalls the async workers.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::error::ApiError;

/// argon2id cost parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Argon2Cost {
    /// Memory, KiB.
    pub memory_kib: u32,
    /// Passes.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl Default for Argon2Cost {
    /// OWASP's argon2id recommendation: 19 MiB, 2 passes, 1 lane.
    fn default() -> Self {
        Argon2Cost {
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
        }
    }
}

impl Argon2Cost {
    /// The cheapest valid cost (tests only).
    pub const fn cheap() -> Self {
        Argon2Cost {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        }
    }

    fn hasher(self) -> Result<Argon2<'static>, ApiError> {
        let params = Params::new(self.memory_kib, self.iterations, self.parallelism, None)
            .map_err(ApiError::internal)?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }
}

/// Longest password accepted (hashing cost must not depend on attacker-chosen sizes).
pub const MAX_PASSWORD_BYTES: usize = 256;

/// Hash a password (PHC string).
pub async fn hash(cost: Argon2Cost, password: String) -> Result<String, ApiError> {
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(ApiError::bad_request(format!(
            "password must be at most {MAX_PASSWORD_BYTES} bytes"
        )));
    }
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::encode_b64(&crate::crypto::random_bytes::<16>())
            .map_err(ApiError::internal)?;
        cost.hasher()?
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(ApiError::internal)
    })
    .await
    .map_err(ApiError::internal)?
}

/// Check a password against a PHC string. With `None` (no such user) the same work is done
/// against a fixed hash, so both answers cost the same.
pub async fn verify(
    cost: Argon2Cost,
    password: String,
    stored: Option<String>,
) -> Result<bool, ApiError> {
    tokio::task::spawn_blocking(move || {
        let (phc, real) = match stored {
            Some(s) => (s, true),
            None => (dummy_hash(cost)?, false),
        };
        let parsed = PasswordHash::new(&phc).map_err(ApiError::internal)?;
        let pw = &password.as_bytes()[..password.len().min(MAX_PASSWORD_BYTES)];
        let ok = cost.hasher()?.verify_password(pw, &parsed).is_ok();
        Ok(ok && real)
    })
    .await
    .map_err(ApiError::internal)?
}

/// A hash of a random password at the configured cost, made once per cost.
fn dummy_hash(cost: Argon2Cost) -> Result<String, ApiError> {
    static CACHE: std::sync::Mutex<Vec<(Argon2Cost, String)>> = std::sync::Mutex::new(Vec::new());
    let mut cache = CACHE
        .lock()
        .map_err(|_| ApiError::internal("dummy hash cache poisoned"))?;
    if let Some((_, h)) = cache.iter().find(|(c, _)| *c == cost) {
        return Ok(h.clone());
    }
    let salt =
        SaltString::encode_b64(&crate::crypto::random_bytes::<16>()).map_err(ApiError::internal)?;
    let h = cost
        .hasher()?
        .hash_password(&crate::crypto::random_bytes::<16>(), &salt)
        .map_err(ApiError::internal)?
        .to_string();
    cache.push((cost, h.clone()));
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_then_verify() {
        let c = Argon2Cost::cheap();
        let h = hash(c, "correct horse".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(
            verify(c, "correct horse".into(), Some(h.clone()))
                .await
                .unwrap()
        );
        assert!(!verify(c, "wrong".into(), Some(h)).await.unwrap());
        assert!(!verify(c, "anything".into(), None).await.unwrap());
        assert!(hash(c, "x".repeat(300)).await.is_err());
    }
}
