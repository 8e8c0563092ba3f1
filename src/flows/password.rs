//! Password hashing: argon2id with the library's recommended parameters (the
//! OWASP baseline: 19 MiB, 2 passes, 1 lane), a random salt per password, stored
//! as a PHC string. It is CPU- and memory-heavy by design, so it runs on
//! [`PasswordHashers`]: a few threads of its own, fed through a bounded queue,
//! never on the pool that database work needs, and never more at once than
//! there are threads (100 concurrent registers would otherwise take 2 GB).

use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};

use argon2::Argon2;
use argon2::password_hash::PasswordHasher;
use tokio::sync::oneshot;

use crate::domain::Password;

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("could not hash the password: {0}")]
    Failed(String),
    /// The queue is full: the caller should answer "try again shortly".
    #[error("too many passwords are waiting to be hashed")]
    Busy,
    #[error("the password hashing threads are gone")]
    Stopped,
}

type Job = (Password, oneshot::Sender<Result<String, HashError>>);

/// `threads` threads that hash passwords, and room for `queue` more waiting.
/// Cheap to clone; the threads end when the last clone is dropped.
#[derive(Clone)]
pub struct PasswordHashers {
    jobs: SyncSender<Job>,
}

impl PasswordHashers {
    pub fn start(threads: usize, queue: usize) -> Self {
        let (jobs, waiting) = sync_channel::<Job>(queue);
        let waiting = Arc::new(Mutex::new(waiting));
        for n in 0..threads.max(1) {
            let waiting = waiting.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("password-hash-{n}"))
                .spawn(move || work(&waiting));
            if let Err(error) = spawned {
                log::error!("could not start a password hashing thread: {error}");
            }
        }
        Self { jobs }
    }

    /// Hashes `password` on one of the threads, or refuses at once when the
    /// queue is full.
    pub async fn hash(&self, password: Password) -> Result<String, HashError> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .try_send((password, reply))
            .map_err(|error| match error {
                TrySendError::Full(_) => HashError::Busy,
                TrySendError::Disconnected(_) => HashError::Stopped,
            })?;
        answer.await.map_err(|_| HashError::Stopped)?
    }
}

fn work(waiting: &Mutex<Receiver<Job>>) {
    loop {
        let job = waiting
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .recv();
        let Ok((password, reply)) = job else {
            return;
        };
        let _ = reply.send(hash_password(&password));
    }
}

/// The PHC string (`$argon2id$v=19$m=19456,t=2,p=1$...`) for `password`.
pub fn hash_password(password: &Password) -> Result<String, HashError> {
    Argon2::default()
        .hash_password(password.expose().as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| HashError::Failed(e.to_string()))
}

#[cfg(test)]
mod tests {
    use argon2::password_hash::PasswordVerifier;
    use argon2::password_hash::phc::PasswordHash;

    use super::*;

    #[actix_web::test]
    async fn the_hashing_threads_refuse_work_beyond_their_queue() {
        let hashers = PasswordHashers::start(1, 1);
        let password = || Password::parse("correct horse battery staple".into()).unwrap();
        let results =
            futures_util::future::join_all((0..6).map(|_| hashers.hash(password()))).await;
        let hashed = results.iter().filter(|r| r.is_ok()).count();
        let busy = results
            .iter()
            .filter(|r| matches!(r, Err(HashError::Busy)))
            .count();
        assert!(hashed >= 1, "{results:?}");
        assert_eq!(hashed + busy, 6, "{results:?}");
        assert!(
            busy >= 4,
            "one thread and one place in the queue: {results:?}"
        );
        assert!(
            hashers.hash(password()).await.is_ok(),
            "and work again once free"
        );
    }

    #[test]
    fn hashes_are_salted_argon2id_that_verify() {
        let password = Password::parse("correct horse battery staple".into()).unwrap();
        let first = hash_password(&password).unwrap();
        let second = hash_password(&password).unwrap();

        assert!(
            first.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{first}"
        );
        assert_ne!(first, second, "each hash has its own salt");
        assert!(!first.contains("correct horse"));
        let parsed = PasswordHash::new(&first).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"correct horse battery staple", &parsed)
                .is_ok()
        );
        assert!(
            Argon2::default()
                .verify_password(b"wrong", &parsed)
                .is_err()
        );
    }
}
