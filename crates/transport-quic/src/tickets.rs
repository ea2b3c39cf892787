//! TLS 1.3 session tickets that survive a server restart, so a fleet reconnecting after one
//! resumes instead of running a full handshake each (issue #15).
//!
//! A ticket is the server's own resumption state, sealed (ChaCha20-Poly1305) under a key the
//! server keeps in its data dir beside its TLS private key. Keys roll: a new one is made every
//! [`ROTATION`], the previous one is kept only while tickets it sealed can still be valid, and
//! anything older is erased from memory and disk — so a key exposes at most
//! `ROTATION + LIFETIME` worth of tickets. A ticket also carries the time it was issued, in the
//! clear but authenticated, and is refused once older than [`LIFETIME`] whatever its key.
//!
//! Resumption only skips the certificate exchange: the agent's passkey proof is bound to the
//! TLS exporter of *this* connection (fresh randoms and key exchange every time), so it runs
//! on a resumed connection exactly as on a new one, and the revocation checks after it too.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};

/// How long a ticket may be used after it was issued (what clients are told, and enforced).
pub const LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);
/// How long one key seals new tickets before the next one takes over.
pub const ROTATION: Duration = Duration::from_secs(12 * 60 * 60);
/// A ticket issued this far in the future (the clock went back) is still accepted.
const CLOCK_SKEW: u64 = 60;

const VERSION: u8 = 1;
const KEY_LEN: usize = 32;
const KEY_ID_LEN: usize = 8;
/// version ‖ key ID ‖ issued at (seconds since the epoch, big-endian) — authenticated, in clear.
const HEADER_LEN: usize = 1 + KEY_ID_LEN + 8;
/// One key on disk: key ID ‖ created at ‖ key.
const RECORD_LEN: usize = KEY_ID_LEN + 8 + KEY_LEN;

/// Why the key file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TicketKeyError {
    #[error("ticket keys {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("ticket keys {0}: not a ticket key file (wrong size)")]
    Malformed(PathBuf),
    #[error("no system randomness")]
    Random,
}

#[derive(Clone)]
struct Key {
    id: [u8; KEY_ID_LEN],
    created: u64,
    secret: [u8; KEY_LEN],
}

/// The server's ticket keys: a [`rustls::server::ProducesTickets`] that keeps its keys in a
/// file (or only in memory, with no path) and counts the tickets it accepted.
pub struct TicketKeys {
    path: Option<PathBuf>,
    /// Newest first; at most two.
    keys: Mutex<Vec<Key>>,
    resumed: AtomicU64,
    clock: fn() -> u64,
}

impl fmt::Debug for TicketKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the keys.
        f.debug_struct("TicketKeys").field("path", &self.path).finish_non_exhaustive()
    }
}

fn system_seconds() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl TicketKeys {
    /// Keys kept in `path` (mode 0600), read if it exists, made and written if not.
    pub fn persistent(path: &Path) -> Result<TicketKeys, TicketKeyError> {
        Self::open(Some(path.to_path_buf()), system_seconds)
    }

    /// Keys kept only in memory: a restart loses them (and every ticket with them).
    pub fn ephemeral() -> Result<TicketKeys, TicketKeyError> {
        Self::open(None, system_seconds)
    }

    fn open(path: Option<PathBuf>, clock: fn() -> u64) -> Result<TicketKeys, TicketKeyError> {
        let keys = match &path {
            Some(path) => read_keys(path)?,
            None => Vec::new(),
        };
        let keys = TicketKeys { path, keys: Mutex::new(keys), resumed: AtomicU64::new(0), clock };
        keys.roll((keys.clock)())?;
        Ok(keys)
    }

    /// How many tickets were accepted (resumed handshakes) since this process started.
    pub fn resumed(&self) -> u64 {
        self.resumed.load(Ordering::Relaxed)
    }

    /// Makes a new key when the newest is due, erases what no valid ticket can need, and
    /// writes the result before the new key seals anything.
    fn roll(&self, now: u64) -> Result<(), TicketKeyError> {
        let mut keys = self.keys.lock().expect("ticket keys lock");
        let (next, changed) = rolled(&keys, now, || fresh_key(now))?;
        if changed {
            if let Some(path) = &self.path {
                write_keys(path, &next)?;
            }
            *keys = next;
        }
        Ok(())
    }

    fn seal(&self, plain: &[u8]) -> Option<Vec<u8>> {
        let now = (self.clock)();
        if let Err(error) = self.roll(now) {
            // No ticket rather than one under a key that is not on disk: clients fall back to
            // a full handshake, nothing else changes.
            tracing::warn!(%error, "ticket key not rotated; issuing no ticket");
            return None;
        }
        let key = self.keys.lock().expect("ticket keys lock").first()?.clone();
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new().fill(&mut nonce).ok()?;
        let mut ticket = Vec::with_capacity(HEADER_LEN + NONCE_LEN + plain.len() + 16);
        ticket.push(VERSION);
        ticket.extend_from_slice(&key.id);
        ticket.extend_from_slice(&now.to_be_bytes());
        let mut body = plain.to_vec();
        sealing_key(&key.secret)
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(&ticket[..HEADER_LEN]), &mut body)
            .ok()?;
        ticket.extend_from_slice(&nonce);
        ticket.extend_from_slice(&body);
        Some(ticket)
    }

    fn open_ticket(&self, ticket: &[u8]) -> Option<Vec<u8>> {
        if ticket.len() < HEADER_LEN + NONCE_LEN || ticket[0] != VERSION {
            return None;
        }
        let (header, rest) = ticket.split_at(HEADER_LEN);
        let id: [u8; KEY_ID_LEN] = header[1..1 + KEY_ID_LEN].try_into().ok()?;
        let issued = u64::from_be_bytes(header[1 + KEY_ID_LEN..].try_into().ok()?);
        if !fresh(issued, (self.clock)()) {
            return None;
        }
        let secret = self.keys.lock().expect("ticket keys lock").iter().find(|k| k.id == id)?.secret;
        let (nonce, sealed) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut body = sealed.to_vec();
        let plain = sealing_key(&secret).open_in_place(nonce, Aad::from(header), &mut body).ok()?;
        let plain = plain.to_vec();
        self.resumed.fetch_add(1, Ordering::Relaxed);
        Some(plain)
    }
}

impl rustls::server::ProducesTickets for TicketKeys {
    fn enabled(&self) -> bool {
        true
    }

    fn lifetime(&self) -> u32 {
        LIFETIME.as_secs() as u32
    }

    fn encrypt(&self, plain: &[u8]) -> Option<Vec<u8>> {
        self.seal(plain)
    }

    fn decrypt(&self, cipher: &[u8]) -> Option<Vec<u8>> {
        self.open_ticket(cipher)
    }
}

/// A ticket issued at `issued` is usable at `now`: not older than the lifetime, not from
/// further in the future than clock skew explains.
fn fresh(issued: u64, now: u64) -> bool {
    issued <= now.saturating_add(CLOCK_SKEW) && now.saturating_sub(issued) <= LIFETIME.as_secs()
}

/// The key set after rolling at `now`: a new key when there is none or the newest has sealed
/// for a whole rotation; the previous one kept while its tickets can be valid; the rest gone.
/// Returns whether anything changed.
fn rolled(
    keys: &[Key],
    now: u64,
    make: impl FnOnce() -> Result<Key, TicketKeyError>,
) -> Result<(Vec<Key>, bool), TicketKeyError> {
    let due = keys.first().is_none_or(|newest| {
        now.saturating_sub(newest.created) >= ROTATION.as_secs() || newest.created > now.saturating_add(CLOCK_SKEW)
    });
    // Newest first; a key is only ever needed by the one before it, so at most two are kept.
    let mut next: Vec<Key> =
        if due { std::iter::once(make()?).chain(keys.first().cloned()).collect() } else { keys.to_vec() };
    next.truncate(2);
    // The older key sealed its last ticket when its successor took over — or, at the latest, one
    // rotation after it was made (sealing rolls first) — and is needed until that ticket expires.
    if let [newer, older] = next.as_slice() {
        let retired = newer.created.min(older.created.saturating_add(ROTATION.as_secs()));
        if now.saturating_sub(retired) > LIFETIME.as_secs() {
            next.pop();
        }
    }
    let changed = next.len() != keys.len() || next.iter().zip(keys).any(|(a, b)| a.id != b.id);
    Ok((next, changed))
}

fn fresh_key(now: u64) -> Result<Key, TicketKeyError> {
    let random = SystemRandom::new();
    let mut id = [0u8; KEY_ID_LEN];
    let mut secret = [0u8; KEY_LEN];
    random.fill(&mut id).map_err(|_| TicketKeyError::Random)?;
    random.fill(&mut secret).map_err(|_| TicketKeyError::Random)?;
    Ok(Key { id, created: now, secret })
}

fn sealing_key(secret: &[u8; KEY_LEN]) -> LessSafeKey {
    LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, secret).expect("a 32-byte ChaCha20 key"))
}

fn read_keys(path: &Path) -> Result<Vec<Key>, TicketKeyError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(TicketKeyError::Io { path: path.to_path_buf(), source }),
    };
    if bytes.is_empty() || bytes.len() % RECORD_LEN != 0 || bytes.len() > 2 * RECORD_LEN {
        return Err(TicketKeyError::Malformed(path.to_path_buf()));
    }
    Ok(bytes
        .chunks_exact(RECORD_LEN)
        .map(|record| Key {
            id: record[..KEY_ID_LEN].try_into().expect("record length checked"),
            created: u64::from_be_bytes(record[KEY_ID_LEN..KEY_ID_LEN + 8].try_into().expect("record length checked")),
            secret: record[KEY_ID_LEN + 8..].try_into().expect("record length checked"),
        })
        .collect())
}

/// Writes the keys to a temporary file (0600), flushes it, and renames it over `path`: a crash
/// leaves the old set or the new one, never half of one.
fn write_keys(path: &Path, keys: &[Key]) -> Result<(), TicketKeyError> {
    let io = |source| TicketKeyError::Io { path: path.to_path_buf(), source };
    let mut bytes = Vec::with_capacity(keys.len() * RECORD_LEN);
    for key in keys {
        bytes.extend_from_slice(&key.id);
        bytes.extend_from_slice(&key.created.to_be_bytes());
        bytes.extend_from_slice(&key.secret);
    }
    let temporary = path.with_extension("tmp");
    {
        use std::io::Write as _;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&temporary).map_err(io)?;
        file.write_all(&bytes).map_err(io)?;
        file.sync_all().map_err(io)?;
    }
    std::fs::rename(&temporary, path).map_err(io)?;
    if let Some(dir) = path.parent() {
        if let Ok(dir) = std::fs::File::open(dir) {
            let _ = dir.sync_all();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::server::ProducesTickets;
    use std::sync::atomic::AtomicU64 as Clock;

    static NOW: Clock = Clock::new(1_800_000_000);
    fn test_clock() -> u64 {
        NOW.load(Ordering::SeqCst)
    }

    fn key(id: u8, created: u64) -> Key {
        Key { id: [id; KEY_ID_LEN], created, secret: [id; KEY_LEN] }
    }

    #[test]
    fn freshness_is_bounded_both_ways() {
        let now = 1_000_000;
        assert!(fresh(now, now));
        assert!(fresh(now - LIFETIME.as_secs(), now));
        assert!(!fresh(now - LIFETIME.as_secs() - 1, now));
        assert!(fresh(now + CLOCK_SKEW, now));
        assert!(!fresh(now + CLOCK_SKEW + 1, now));
    }

    #[test]
    fn rolling_makes_a_key_when_due_and_erases_what_no_ticket_needs() {
        let r = ROTATION.as_secs();
        let l = LIFETIME.as_secs();
        // None yet: one is made.
        let (keys, changed) = rolled(&[], 100, || Ok(key(1, 100))).unwrap();
        assert!(changed);
        assert_eq!(keys.iter().map(|k| k.id[0]).collect::<Vec<_>>(), vec![1]);
        // Not due: nothing changes, nothing is made.
        let (keys, changed) = rolled(&keys, 100 + r - 1, || panic!("not due")).unwrap();
        assert!(!changed);
        // Due: the new one seals, the old one stays (its tickets are still valid).
        let (keys, changed) = rolled(&keys, 100 + r, || Ok(key(2, 100 + r))).unwrap();
        assert!(changed);
        assert_eq!(keys.iter().map(|k| k.id[0]).collect::<Vec<_>>(), vec![2, 1]);
        // A third: the first goes (at most two kept).
        let (keys, _) = rolled(&keys, 100 + 2 * r, || Ok(key(3, 100 + 2 * r))).unwrap();
        assert_eq!(keys.iter().map(|k| k.id[0]).collect::<Vec<_>>(), vec![3, 2]);
        // A server off for a lifetime: key 3 may have sealed until its rotation was due, so
        // it stays while such a ticket can be valid...
        let (kept, _) = rolled(&keys, 100 + 3 * r + l, || Ok(key(7, 100 + 3 * r + l))).unwrap();
        assert_eq!(kept.iter().map(|k| k.id[0]).collect::<Vec<_>>(), vec![7, 3]);
        // ...and one second longer: the new key alone (every old ticket is dead).
        let later = 100 + 3 * r + l + 1;
        let (keys, _) = rolled(&keys, later, || Ok(key(4, later))).unwrap();
        assert_eq!(keys.iter().map(|k| k.id[0]).collect::<Vec<_>>(), vec![4]);
        // A newest key from the future (clock set back): replaced.
        let (keys, changed) = rolled(&[key(5, later + 10 * CLOCK_SKEW)], later, || Ok(key(6, later))).unwrap();
        assert!(changed);
        assert_eq!(keys[0].id[0], 6);
    }

    #[test]
    fn a_ticket_opens_under_its_key_and_not_when_altered_or_old() {
        NOW.store(1_800_000_000, Ordering::SeqCst);
        let keys = TicketKeys::open(None, test_clock).unwrap();
        let ticket = keys.encrypt(b"resumption state").unwrap();
        assert_eq!(keys.decrypt(&ticket).unwrap(), b"resumption state");
        assert_eq!(keys.resumed(), 1);
        // Every single-bit change anywhere is refused: header (authenticated), nonce, body, tag.
        for byte in 0..ticket.len() {
            let mut altered = ticket.clone();
            altered[byte] ^= 0x01;
            assert_eq!(keys.decrypt(&altered), None, "byte {byte}");
        }
        // Truncations and garbage.
        for length in 0..ticket.len() {
            assert_eq!(keys.decrypt(&ticket[..length]), None);
        }
        // Another server's keys do not open it.
        let other = TicketKeys::open(None, test_clock).unwrap();
        assert_eq!(other.decrypt(&ticket), None);
        // Past its lifetime: refused, though the key is still there.
        NOW.store(1_800_000_000 + LIFETIME.as_secs() + 1, Ordering::SeqCst);
        assert_eq!(keys.decrypt(&ticket), None);
        assert_eq!(keys.resumed(), 1);
        NOW.store(1_800_000_000, Ordering::SeqCst);
    }

    #[test]
    fn keys_survive_a_restart_in_their_file_and_a_bad_file_is_refused() {
        let dir = std::env::temp_dir().join(format!("argus-tickets-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("ticket-keys");
        let _ = std::fs::remove_file(&path);
        let first = TicketKeys::persistent(&path).unwrap();
        let ticket = first.encrypt(b"state").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        drop(first);
        let again = TicketKeys::persistent(&path).unwrap();
        assert_eq!(again.decrypt(&ticket).unwrap(), b"state");
        std::fs::write(&path, b"not keys").unwrap();
        assert!(matches!(TicketKeys::persistent(&path), Err(TicketKeyError::Malformed(_))));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn debug_never_prints_a_key() {
        let keys = TicketKeys::ephemeral().unwrap();
        let secret = keys.keys.lock().unwrap()[0].secret;
        let printed = format!("{keys:?}");
        assert!(!printed.contains(&format!("{:?}", &secret[..4])));
        assert!(printed.contains("TicketKeys"));
    }
}
