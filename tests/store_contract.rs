//! The store's contract, one body per rule run against both backends (sled in a temp dir, and
//! a throwaway PostgreSQL): atomic batches, durability across a reopen, the audit chain in
//! order and verifiable, last write wins; and for PostgreSQL what only a shared store has —
//! one chain under two writers, outages, refused logins, a schema from a newer build.

use std::sync::Arc;
use std::time::{Duration, Instant};

use argus_e2e::pg::Postgres;
use argus_fsm::tenant::Tenant;
use argus_fsm::Timestamp;
use argus_ops::store::audit::{verify, AuditChain, AuditEntry, Verification};
use argus_ops::store::writer::Writer;
use argus_ops::store::{EndClaim, PatRecord, Scope, Store, StoreError, StoreUrl, Write};

/// Opens a fresh store of one backend, and can open it again (a restart).
trait Backend {
    fn open(&self) -> Arc<dyn Store>;
}

struct Sled(tempfile::TempDir);

impl Backend for Sled {
    fn open(&self) -> Arc<dyn Store> {
        // A real reopen from disk: the process lets go of the database it holds.
        argus_ops::store::SledStore::forget(&self.0.path().join("db"));
        // sled closes a dropped handle in a background thread; with throwaway PostgreSQL
        // servers fsyncing beside it that once took longer than the server's own 10 s wait.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match argus_ops::store::open(&StoreUrl::Sled, self.0.path()) {
                Ok(store) => return store,
                Err(error) if Instant::now() < deadline => eprintln!("sled not released yet: {error}"),
                Err(error) => panic!("sled opens: {error}"),
            }
        }
    }
}

struct Pg(Postgres, String);

impl Backend for Pg {
    fn open(&self) -> Arc<dyn Store> {
        argus_ops::store::open(&StoreUrl::parse(&self.1).unwrap(), std::path::Path::new("/nonexistent"))
            .expect("postgres opens")
    }
}

fn sled() -> Sled {
    Sled(tempfile::tempdir().unwrap())
}

fn pg() -> Pg {
    let server = Postgres::start();
    let url = server.url("argus");
    Pg(server, url)
}

fn pat(n: u8) -> PatRecord {
    PatRecord {
        hash: [n; 32],
        owner: format!("op{n}@example.com"),
        scopes: vec![Scope::RemoteSupport],
        tenant: None,
        created_at: Timestamp(1_000),
        expires_at: None,
        revoked_at: None,
        last_used_at: None,
    }
}

fn entry(i: usize) -> AuditEntry {
    AuditEntry::system(argus_ops::store::audit::AuditEvent::TenantArmed).tenant("T1").reason(format!("round {i}"))
}

/// A session's end record as a node hands it to an end claim (the store chains it).
fn end_record(session_id: &str) -> argus_ops::store::audit::AuditRecord {
    let entry = AuditEntry::system(argus_ops::store::audit::AuditEvent::RemoteSupportSessionEnded)
        .tenant("T1")
        .session(session_id)
        .reason("deactivated");
    AuditChain::default().next_record(entry, Timestamp(2_000))
}

/// Runs a writer's wait to its end (the tests are synchronous, like a tool's).
fn wait(writer: &Writer, generation: u64) -> Result<(), StoreError> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(writer.wait(generation))
}

/// The server's writer on `store`, continuing its chain, its records naming `node`.
fn writer(store: &Arc<dyn Store>, node: Option<String>) -> Writer {
    let snapshot = store.load().unwrap();
    Writer::new(store.clone(), None, snapshot.last_audit.as_ref(), snapshot.tenant_heads, node)
}

fn atomic_batches_land_whole_and_survive_a_reopen(backend: &dyn Backend) {
    let store = backend.open();
    let mut chain = AuditChain::default();
    let tenant = Tenant::new("T1".into(), [7; 32]);
    let record = chain.next_record(entry(0), Timestamp(5));
    store.commit(&[Write::Tenant(tenant.clone()), Write::Pat(pat(1)), Write::Audit(record.clone())]).unwrap();
    drop(store);
    let store = backend.open();
    let snapshot = store.load().unwrap();
    assert_eq!(snapshot.tenants, vec![tenant]);
    assert_eq!(snapshot.pats, vec![pat(1)]);
    assert_eq!(snapshot.last_audit, Some(record));
}

fn the_last_write_of_a_key_wins_within_one_group(backend: &dyn Backend) {
    let store = backend.open();
    let mut first = pat(2);
    first.owner = "first@example.com".into();
    let writer = writer(&store, None);
    writer.stage(vec![Write::Pat(first)], vec![], Timestamp(1)).unwrap();
    let second = writer.stage(vec![Write::Pat(pat(2))], vec![], Timestamp(1)).unwrap();
    wait(&writer, second).unwrap();
    assert_eq!(store.load().unwrap().pats, vec![pat(2)]);
}

fn the_chain_reads_back_in_order_and_verifies(backend: &dyn Backend) {
    let store = backend.open();
    let writer = writer(&store, None);
    // Many requests' batches staged, then one group written per 50 (group commit).
    let total = 1_234;
    let mut newest = 0;
    for i in 0..total {
        newest = writer.stage(vec![], vec![entry(i)], Timestamp(i as i64)).unwrap();
        if i % 50 == 49 {
            wait(&writer, newest).unwrap();
        }
    }
    wait(&writer, newest).unwrap();
    let seqs: Vec<u64> = store.audit_from(1).map(|r| r.unwrap().seq).collect();
    assert_eq!(seqs, (1..=total as u64).collect::<Vec<_>>(), "ascending across pages");
    let newest: Vec<u64> = store.audit_newest_first().take(1_100).map(|r| r.unwrap().seq).collect();
    assert_eq!(newest, (total as u64 - 1_099..=total as u64).rev().collect::<Vec<_>>(), "descending across pages");
    assert_eq!(verify(store.as_ref(), None).unwrap(), Verification::Intact { records: total as u64 });
    drop((store, writer));
    assert_eq!(verify(backend.open().as_ref(), None).unwrap(), Verification::Intact { records: total as u64 });
}

/// SPEC §14: a tenant's export resumes after any `tenant_seq`. The stores keep a mark every
/// `RESUME_MARK_EVERY` records of a tenant (not one index entry per record); every place is
/// still found from the mark before it, across tenants interleaved and groups of any size, and
/// a place past the tenant's head is none.
fn every_tenant_place_is_found_from_its_resume_mark(backend: &dyn Backend) {
    use argus_ops::store::audit::{seq_of_tenant_record, RESUME_MARK_EVERY};
    let store = backend.open();
    let writer = writer(&store, None);
    let total = 5 * RESUME_MARK_EVERY as usize + 7;
    let mut newest = 0;
    for i in 0..total {
        // Of every seven records: four T1, two T2, one in no tenant chain.
        let entry = match i % 7 {
            6 => AuditEntry { tenant: None, ..entry(i) },
            n if n % 3 == 2 => entry(i).tenant("T2"),
            _ => entry(i).tenant("T1"),
        };
        newest = writer.stage(vec![], vec![entry], Timestamp(i as i64)).unwrap();
        if i % 37 == 36 {
            wait(&writer, newest).unwrap();
        }
    }
    wait(&writer, newest).unwrap();
    let mut places = std::collections::BTreeMap::<String, Vec<(u64, u64)>>::new();
    let records: Vec<_> = store.audit_from(1).map(Result::unwrap).collect();
    for record in &records {
        if let (Some(tenant), Some(tenant_seq)) = (&record.tenant, record.tenant_seq) {
            places.entry(tenant.clone()).or_default().push((tenant_seq, record.seq));
        }
    }
    for (tenant, places) in &places {
        for &(tenant_seq, seq) in places {
            assert_eq!(
                seq_of_tenant_record(store.as_ref(), tenant, tenant_seq).unwrap(),
                Some(seq),
                "{tenant} {tenant_seq}"
            );
        }
        let head = places.last().unwrap().0;
        assert_eq!(store.audit_tenant_head(tenant).unwrap().map(|h| h.tenant_seq), Some(head));
        assert_eq!(seq_of_tenant_record(store.as_ref(), tenant, head + 1).unwrap(), None, "past the head");
        assert_eq!(seq_of_tenant_record(store.as_ref(), tenant, 0).unwrap(), None);
    }
    assert!(places["T1"].len() > 2 * RESUME_MARK_EVERY as usize, "the test crosses several marks");
    assert_eq!(seq_of_tenant_record(store.as_ref(), "T9", 1).unwrap(), None, "a tenant with no chain");
    assert_eq!(store.audit_mark_seq("T1", 2).unwrap(), None, "only marks are kept");
}

fn session(n: u8, now: i64) -> argus_fsm::session::Session {
    argus_fsm::session::Session::start(
        format!("ses_{n}"),
        "T1".into(),
        format!("a{n}"),
        "op@example.com".into(),
        [n; 32],
        "why".into(),
        60_000,
        Timestamp(now),
    )
}

fn sessions_are_found_by_token_and_only_live_ones_load(backend: &dyn Backend) {
    use argus_fsm::machine::Machine as _;
    let store = backend.open();
    let live = session(1, 1_000);
    let mut ended = session(2, 1_000);
    ended.handle(argus_fsm::session::SessionEvent::Deactivate, Timestamp(2_000)).unwrap();
    store.commit(&[Write::Session(live.clone()), Write::Session(ended.clone())]).unwrap();
    drop(store);
    let store = backend.open();
    assert_eq!(store.load().unwrap().sessions, vec![live.clone()], "start-up loads live sessions only");
    assert_eq!(store.session_by_token(&[1; 32]).unwrap(), Some(live));
    assert_eq!(store.session_by_token(&[2; 32]).unwrap(), Some(ended), "an ended session is found by key");
    assert_eq!(store.session_by_token(&[3; 32]).unwrap(), None);
}

macro_rules! contract {
    ($($rule:ident),* $(,)?) => {
        mod sled_backend {
            $( #[test] fn $rule() { super::$rule(&super::sled()); } )*
        }
        mod postgres_backend {
            $( #[test] fn $rule() { super::$rule(&super::pg()); } )*
        }
    };
}

contract!(
    atomic_batches_land_whole_and_survive_a_reopen,
    the_last_write_of_a_key_wins_within_one_group,
    the_chain_reads_back_in_order_and_verifies,
    sessions_are_found_by_token_and_only_live_ones_load,
    every_tenant_place_is_found_from_its_resume_mark,
);

#[test]
fn a_writer_behind_the_chain_follows_it_and_lands_its_whole_batch() {
    let backend = pg();
    let (a, b) = (backend.open(), backend.open());
    let (writer_a, writer_b) = (writer(&a, Some("a".into())), writer(&b, Some("b".into())));
    let first = writer_a.stage(vec![], vec![entry(1)], Timestamp(1)).unwrap();
    wait(&writer_a, first).unwrap();
    // B still believes the chain is empty: its group (a PAT and a record chained as seq 1) is
    // re-chained after A's record, in one transaction with the PAT.
    let second = writer_b.stage(vec![Write::Pat(pat(9))], vec![entry(2)], Timestamp(2)).unwrap();
    wait(&writer_b, second).unwrap();
    let snapshot = a.load().unwrap();
    assert_eq!(snapshot.pats.len(), 1, "the PAT landed with its record");
    let last = snapshot.last_audit.unwrap();
    assert_eq!((last.seq, last.reason.as_deref(), last.node.as_deref()), (2, Some("round 2"), Some("b")));
    // B's writer continues from where its group landed: its next record follows it directly.
    let third = writer_b.stage(vec![], vec![entry(3)], Timestamp(3)).unwrap();
    wait(&writer_b, third).unwrap();
    let last = a.load().unwrap().last_audit.unwrap();
    assert_eq!((last.seq, last.reason.as_deref()), (3, Some("round 3")));
    assert_eq!(verify(a.as_ref(), None).unwrap(), Verification::Intact { records: 3 });
}

/// SPEC §14 under two nodes: a node whose global head is current can still have missed
/// another node's records for a tenant (it followed the chain for another tenant's record and
/// read only that tenant's head). Its next record for the tenant must not reuse a place: the
/// tenant's head row refuses it, and the group follows and lands after the tenant's head.
#[test]
fn a_writer_that_missed_a_tenants_records_is_refused_and_follows_them() {
    let backend = pg();
    let (a, b) = (backend.open(), backend.open());
    let (writer_a, writer_b) = (writer(&a, Some("a".into())), writer(&b, Some("b".into())));
    let append = |writer: &Writer, i: usize, tenant: &str| {
        let generation = writer.stage(vec![], vec![entry(i).tenant(tenant)], Timestamp(i as i64)).unwrap();
        wait(writer, generation).unwrap();
    };
    append(&writer_a, 1, "T2");
    // B appends for T2 after A's record (B follows the chain: it was behind).
    append(&writer_b, 2, "T2");
    // A follows the chain for T1 (reading T1's head only), then appends for T1 until it no
    // longer expects other writers and sends its groups without looking first: its global head
    // is current, its T2 head is not.
    for i in 3..40 {
        append(&writer_a, i, "T1");
    }
    append(&writer_a, 40, "T2");
    let records: Vec<_> = a.audit_from(1).map(Result::unwrap).collect();
    let last = records.last().unwrap();
    assert_eq!((last.reason.as_deref(), last.tenant_seq), (Some("round 40"), Some(3)), "after B's T2 record");
    assert_eq!(verify(a.as_ref(), None).unwrap(), Verification::Intact { records: 40 });
}

/// Schema 7 replaces version 6's unique `(tenant, tenant_seq)` index with a heads row per
/// tenant: a database written at version 6 gets its rows from its records, and the next
/// records of each tenant continue its chain.
#[test]
fn a_database_from_schema_6_gets_its_tenant_heads_from_its_records() {
    let backend = pg();
    let store = backend.open();
    let writer_1 = writer(&store, Some("a".into()));
    for i in 0..10 {
        let tenant = if i % 3 == 0 { "T2" } else { "T1" };
        let generation = writer_1.stage(vec![], vec![entry(i).tenant(tenant)], Timestamp(i as i64)).unwrap();
        wait(&writer_1, generation).unwrap();
    }
    let (_, before) = store.audit_heads().unwrap();
    drop((writer_1, store));
    // The database as version 6 left it.
    backend.0.psql(
        "argus",
        "DROP TABLE audit_tenant_heads; DROP INDEX audit_tenant_marks;
         CREATE UNIQUE INDEX audit_tenant_seq ON audit (tenant, tenant_seq);
         DELETE FROM argus_schema WHERE version = 7;",
    );
    let store = backend.open();
    let (_, after) = store.audit_heads().unwrap();
    assert_eq!(after, before, "every tenant's head, from its records");
    assert_eq!((after["T1"].tenant_seq, after["T2"].tenant_seq), (6, 4));
    let writer_2 = writer(&store, Some("a".into()));
    for i in 10..14 {
        let tenant = if i % 2 == 0 { "T2" } else { "T1" };
        let generation = writer_2.stage(vec![], vec![entry(i).tenant(tenant)], Timestamp(i as i64)).unwrap();
        wait(&writer_2, generation).unwrap();
    }
    assert_eq!(verify(store.as_ref(), None).unwrap(), Verification::Intact { records: 14 });
    let (_, heads) = store.audit_heads().unwrap();
    assert_eq!((heads["T1"].tenant_seq, heads["T2"].tenant_seq), (8, 6));
    assert_eq!(argus_ops::store::audit::seq_of_tenant_record(store.as_ref(), "T1", 7).unwrap(), Some(12));
}

#[test]
fn concurrent_writers_on_one_database_make_one_unbroken_chain() {
    // Four "nodes", each with its own writer and view of the chain, append at once: every
    // record lands, seq is unique and increasing, and the hash chain verifies as one, and so
    // does each tenant's own chain (SPEC §14).
    let backend = pg();
    let stores: Vec<Arc<dyn Store>> = (0..4).map(|_| backend.open()).collect();
    std::thread::scope(|scope| {
        for (node, store) in stores.iter().enumerate() {
            scope.spawn(move || {
                let writer = writer(store, Some(format!("node-{node}")));
                for i in 0..50 {
                    // Two tenants, so a node's view of one tenant's head goes stale while it
                    // appends for the other: its next record for it collides and follows.
                    let tenant = if (node + i) % 3 == 0 { "T2" } else { "T1" };
                    let entry = entry(node * 1000 + i).tenant(tenant);
                    let generation = writer.stage(vec![], vec![entry], Timestamp(i as i64)).unwrap();
                    wait(&writer, generation).expect("every append lands");
                }
            });
        }
    });
    // `verify` checks each tenant's chain beside the global one.
    assert_eq!(verify(stores[0].as_ref(), None).unwrap(), Verification::Intact { records: 200 });
    let (_, heads) = stores[0].audit_heads().unwrap();
    let t2 = (0..4).map(|node| (0..50).filter(|i| (node + i) % 3 == 0).count() as u64).sum::<u64>();
    assert_eq!((heads["T1"].tenant_seq, heads["T2"].tenant_seq), (200 - t2, t2), "one unbroken chain per tenant");
    let mut per_node = std::collections::HashMap::new();
    for record in stores[0].audit_from(0) {
        *per_node.entry(record.unwrap().node.expect("records name their node")).or_insert(0) += 1;
    }
    assert!(per_node.values().all(|&n| n == 50), "{per_node:?}");
}

#[test]
fn an_outage_fails_fast_discards_the_group_and_recovers_after_a_reload() {
    let mut backend = pg();
    let store = backend.open();
    let writer = writer(&store, None);
    let first = writer.stage(vec![], vec![entry(1)], Timestamp(1)).unwrap();
    wait(&writer, first).unwrap();
    backend.0.stop(true);
    let doomed = writer.stage(vec![Write::Pat(pat(3))], vec![entry(2)], Timestamp(2)).unwrap();
    let started = Instant::now();
    let error = wait(&writer, doomed).unwrap_err();
    assert!(matches!(error, StoreError::Unavailable(_)), "{error}");
    assert!(started.elapsed() < Duration::from_secs(12), "answered in {:?}", started.elapsed());
    assert!(
        writer.stage(vec![Write::Pat(pat(4))], vec![], Timestamp(2)).is_err(),
        "no stage on a view that may be stale"
    );
    backend.0.start_server();
    // The port may have changed only if it was taken meanwhile; reopen in that case.
    let same = backend.0.url("argus") == backend.1;
    let (store, writer) = if same {
        (store, writer)
    } else {
        backend.1 = backend.0.url("argus");
        let store = backend.open();
        let writer = Writer::new(store.clone(), None, None, Default::default(), None);
        writer.stale();
        (store, writer)
    };
    let snapshot = store.load().unwrap();
    writer.reloaded(snapshot.last_audit.as_ref(), snapshot.tenant_heads.clone());
    assert!(snapshot.pats.is_empty(), "the failed group left nothing");
    assert_eq!(snapshot.last_audit.as_ref().unwrap().seq, 1);
    if same {
        assert!(wait(&writer, doomed).is_err(), "a doomed group stays failed after the reload");
    }
    let next = writer.stage(vec![], vec![entry(3)], Timestamp(3)).unwrap();
    wait(&writer, next).unwrap();
    assert_eq!(verify(store.as_ref(), None).unwrap(), Verification::Intact { records: 2 });
}

#[test]
fn refused_logins_unreachable_hosts_and_newer_schemas_are_named_without_the_password() {
    let server = Postgres::start();
    let open = |url: &str| argus_ops::store::open(&StoreUrl::parse(url).unwrap(), std::path::Path::new("/nonexistent"));
    let wrong = server.url_with_password("argus", "not-the-password-4711");
    let error = open(&wrong).err().expect("a wrong password is refused");
    let text = error.to_string();
    assert!(matches!(error, StoreError::Refused(_)), "{text}");
    assert!(text.contains("password authentication failed"), "the server's reason: {text}");
    assert!(!text.contains("4711") && !text.contains(server.password()), "{text}");

    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let started = Instant::now();
    let error = open(&format!("postgres://argus:secret-4711@127.0.0.1:{closed}/argus?sslmode=disable"))
        .err()
        .expect("nothing listens there");
    assert!(matches!(error, StoreError::Unavailable(_)), "{error}");
    assert!(!error.to_string().contains("4711"));
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());

    let url = server.url("argus");
    drop(open(&url).unwrap());
    server.psql("argus", "INSERT INTO argus_schema (version) VALUES (999)");
    let error = open(&url).err().expect("a newer schema is refused");
    let known = argus_ops::store::postgres::SCHEMA_VERSION;
    assert!(matches!(error, StoreError::SchemaTooNew { found: 999, known: k } if k == known), "{error}");
    assert!(error.to_string().contains("999") && error.to_string().contains(&format!("({known})")), "{error}");
}

#[test]
fn presence_follows_the_newest_connection_and_only_live_nodes_count() {
    use argus_ops::membership::Heartbeat;
    let backend = pg();
    let store = backend.open();
    let beat = |node: &str| Heartbeat {
        node_id: node.into(),
        api: "127.0.0.1:1".into(),
        agent: "127.0.0.1:2".into(),
        peer: Some("127.0.0.1:3".into()),
        peer_cert: Some(format!("{:0>64}", node)),
    };
    store.cluster().expect("shared").heartbeat(&beat("n1")).unwrap();
    store.cluster().expect("shared").heartbeat(&beat("n2")).unwrap();
    // Who a peer is: the live node whose heartbeat names its certificate.
    assert_eq!(
        store.cluster().expect("shared").live_node_by_peer_cert(&format!("{:0>64}", "n2")).unwrap().as_deref(),
        Some("n2")
    );
    assert_eq!(
        store.cluster().expect("shared").live_node_by_peer_cert(&"f".repeat(64)).unwrap(),
        None,
        "a certificate no node names"
    );
    let old = store.cluster().expect("shared").claim_presence("a1", "n1").unwrap();
    let new = store.cluster().expect("shared").claim_presence("a1", "n2").unwrap();
    assert!(new > old, "every connection takes a newer epoch");
    assert_eq!(
        store.cluster().expect("shared").holder("a1").unwrap().as_deref(),
        Some("n2"),
        "the newest connection wins"
    );
    // The old node letting go late removes nothing that is not its own.
    store.cluster().expect("shared").release_presence("a1", old).unwrap();
    assert_eq!(store.cluster().expect("shared").holder("a1").unwrap().as_deref(), Some("n2"));
    let nodes = store.cluster().expect("shared").nodes().unwrap();
    let n2 = nodes.iter().find(|n| n.node_id == "n2").unwrap();
    assert!(n2.alive && n2.agents_online == 1, "{nodes:?}");
    // A node silent for more than 10 s is dead: its agents count as offline everywhere.
    backend.0.psql("argus", "UPDATE nodes SET heartbeat_at = now() - interval '11 seconds' WHERE node_id = 'n2'");
    assert_eq!(store.cluster().expect("shared").holder("a1").unwrap(), None);
    assert!(store.cluster().expect("shared").presence().unwrap().is_empty());
    let n2 = store.cluster().expect("shared").nodes().unwrap().into_iter().find(|n| n.node_id == "n2").unwrap();
    assert!(!n2.alive && n2.agents_online == 0);
    // Its own release (the agent left) removes its row; a restarted node forgets its old rows.
    store.cluster().expect("shared").heartbeat(&beat("n2")).unwrap();
    store.cluster().expect("shared").release_presence("a1", new).unwrap();
    assert_eq!(store.cluster().expect("shared").holder("a1").unwrap(), None);
    store.cluster().expect("shared").claim_presence("a2", "n1").unwrap();
    store.cluster().expect("shared").forget_presence_of("n1").unwrap();
    assert_eq!(store.cluster().expect("shared").holder("a2").unwrap(), None);
}

#[test]
fn one_live_session_per_agent_and_each_end_decided_once() {
    use argus_fsm::machine::Machine as _;
    let backend = pg();
    let (a, b) = (backend.open(), backend.open());
    let now = Timestamp(1_000);
    let first = session(1, 1_000);
    assert!(a.claim_live_session("a1", &first.id, first.expires_at, now).unwrap());
    a.commit(&[Write::Session(first.clone())]).unwrap();
    // Another node, the same agent: refused while the first session is live.
    assert!(!b.claim_live_session("a1", "ses_other", Timestamp(90_000), now).unwrap());
    // Two nodes ending it: exactly one decides, and records the end with its decision.
    let mut ended = first.clone();
    ended.handle(argus_fsm::session::SessionEvent::Deactivate, Timestamp(2_000)).unwrap();
    let decisions =
        [a.end_claim(&ended, end_record(&first.id)).unwrap(), b.end_claim(&ended, end_record(&first.id)).unwrap()];
    assert_eq!(decisions, [EndClaim::Recorded, EndClaim::Lost]);
    let ends: Vec<_> =
        a.audit_from(1).map(Result::unwrap).filter(|r| r.event == "remote_support_session_ended").collect();
    assert_eq!(ends.len(), 1, "one end record, written with the claim");
    assert_eq!(verify(a.as_ref(), None).unwrap(), Verification::Intact { records: 1 });
    // A stale writer can never make it active again.
    b.commit(&[Write::Session(first.clone())]).unwrap();
    assert!(b.load().unwrap().sessions.is_empty(), "an ended session stays ended");
    // The claim is free again.
    assert!(b.claim_live_session("a1", "ses_next", Timestamp(90_000), Timestamp(3_000)).unwrap());
    // A claim whose session lapsed is free too, without anyone ending it first.
    assert!(a.claim_live_session("a1", "ses_after", Timestamp(200_000), Timestamp(95_000)).unwrap());
}

#[test]
fn revocations_stay_final_against_a_writer_with_an_older_view() {
    let backend = pg();
    let store = backend.open();
    let mut revoked = pat(5);
    revoked.revoked_at = Some(Timestamp(2_000));
    store.commit(&[Write::Pat(pat(5))]).unwrap();
    store.commit(&[Write::Pat(revoked)]).unwrap();
    // A node that still holds the old record writes its `last_used_at` bookkeeping.
    let mut stale = pat(5);
    stale.last_used_at = Some(Timestamp(3_000));
    store.commit(&[Write::Pat(stale)]).unwrap();
    let pats = store.load().unwrap().pats;
    assert_eq!(pats[0].revoked_at, Some(Timestamp(2_000)), "the revocation stands");
}

/// SPEC §13 on a shared store: an access request round-trips (load and reread); a node with a
/// stale view never undoes a decision; an expiry watched by two nodes is recorded once.
#[test]
fn access_requests_keep_their_decisions_and_each_expiry_is_recorded_once() {
    use argus_fsm::access::{AccessEvent, AccessRequest, REQUEST_LIFETIME_MS};
    use argus_fsm::machine::Machine as _;
    let backend = pg();
    let (a, b) = (backend.open(), backend.open());
    let created = Timestamp(1_000);
    let pending =
        |id: &str| AccessRequest::new(id.into(), "T1".into(), "a1".into(), "op".into(), "INC-1".into(), 600, created);
    let id = "7d4f1c2a-9b3e-4f6a-8c1d-2e3f4a5b6c7d";
    a.commit(&[Write::AccessRequest(pending(id))]).unwrap();
    let mut denied = pending(id);
    denied.handle(AccessEvent::Deny { by: "admin".into(), reason: "no".into() }, Timestamp(2_000)).unwrap();
    a.commit(&[Write::AccessRequest(denied)]).unwrap();
    // A node that still holds it pending writes it again: the denial stands.
    b.commit(&[Write::AccessRequest(pending(id))]).unwrap();
    let loaded = b.load().unwrap().requests;
    assert_eq!((loaded.len(), loaded[0].state.name()), (1, "denied"));
    let changes = argus_ops::store::Changes { requests: vec![id.into()], ..Default::default() };
    assert_eq!(b.cluster().unwrap().reread(&changes).unwrap().requests[0].state.name(), "denied");

    // Two nodes expire the same lapsed request: one records it, in the claim's transaction.
    let other = "00000000-0000-4000-8000-000000000001";
    a.commit(&[Write::AccessRequest(pending(other))]).unwrap();
    let mut expired = pending(other);
    expired.handle(AccessEvent::Expire, Timestamp(created.0 + REQUEST_LIFETIME_MS)).unwrap();
    let record = || {
        let entry = AuditEntry::system(argus_ops::store::audit::AuditEvent::AccessRequestExpired)
            .tenant("T1")
            .details(serde_json::json!({ "request_id": other }));
        AuditChain::default().next_record(entry, Timestamp(3_000))
    };
    let decisions = [a.expire_claim(&expired, record()).unwrap(), b.expire_claim(&expired, record()).unwrap()];
    assert_eq!(decisions, [EndClaim::Recorded, EndClaim::Lost]);
    let records: Vec<_> = a.audit_from(1).map(Result::unwrap).filter(|r| r.event == "access_request_expired").collect();
    assert_eq!(records.len(), 1, "one expiry record, written with the claim");
    let stored = a.load().unwrap().requests.into_iter().find(|r| r.request_id == other).unwrap();
    assert_eq!(stored.state.name(), "expired", "the record is the expired one, not only the state column");
    // On one writer (sled) the node wins and records it with its next group.
    assert_eq!(sled().open().expire_claim(&expired, record()).unwrap(), EndClaim::Won);
}

/// A store on `backend` reached through a proxy the test controls.
fn through_proxy(backend: &Pg) -> (argus_e2e::proxy::Proxy, Arc<dyn Store>) {
    let proxy = argus_e2e::proxy::Proxy::start(format!("127.0.0.1:{}", backend.0.port).parse().unwrap());
    let url = backend.1.replace(&format!(":{}/", backend.0.port), &format!(":{}/", proxy.addr.port()));
    let store = argus_ops::store::open(&StoreUrl::parse(&url).unwrap(), std::path::Path::new("/nonexistent")).unwrap();
    (proxy, store)
}

/// SPEC §10: a write whose COMMIT got no answer is resolved before anything else is written —
/// never answered done when it did not land, never applied twice. A proxy the test controls
/// cuts the connection once after the server answered the COMMIT (the group landed; the
/// writer must find that out and answer done) and once before the server saw it (the group
/// rolled back; the writer must answer failure and write nothing twice).
#[test]
fn a_commit_whose_answer_is_lost_is_found_landed_and_one_never_sent_is_found_lost() {
    use argus_e2e::proxy::CommitCut;
    let backend = pg();
    let (proxy, store) = through_proxy(&backend);
    let writer = writer(&store, None);
    let first = writer.stage(vec![Write::Pat(pat(1))], vec![entry(1)], Timestamp(1)).unwrap();
    wait(&writer, first).unwrap();

    proxy.cut_at_next_commit(CommitCut::BeforeTheAnswer);
    let unanswered = writer.stage(vec![Write::Pat(pat(2))], vec![entry(2)], Timestamp(2)).unwrap();
    wait(&writer, unanswered).expect("the group landed: answered done");
    assert_eq!(proxy.commits_cut(), 1, "the answer to a COMMIT was cut");
    assert!(!writer.poisoned(), "a landed group leaves the writer going");

    proxy.cut_at_next_commit(CommitCut::BeforeTheServer);
    let lost = writer.stage(vec![Write::Pat(pat(3))], vec![entry(3)], Timestamp(3)).unwrap();
    let error = wait(&writer, lost).expect_err("the group never committed: answered failed");
    assert!(matches!(error, StoreError::Unavailable(_)), "{error}");
    assert_eq!(proxy.commits_cut(), 2, "a COMMIT was cut before the server saw it");

    let snapshot = store.load().unwrap();
    writer.reloaded(snapshot.last_audit.as_ref(), snapshot.tenant_heads.clone());
    let mut hashes: Vec<[u8; 32]> = snapshot.pats.iter().map(|p| p.hash).collect();
    hashes.sort();
    assert_eq!(hashes, vec![[1; 32], [2; 32]], "the landed group is there once, the lost one not at all");
    let next = writer.stage(vec![Write::Pat(pat(4))], vec![entry(4)], Timestamp(4)).unwrap();
    wait(&writer, next).unwrap();
    assert_eq!(verify(store.as_ref(), None).unwrap(), Verification::Intact { records: 3 });
    let reasons = backend.0.psql("argus", "SELECT string_agg(record::json->>'reason', ',' ORDER BY seq) FROM audit");
    assert_eq!(reasons, "round 1,round 2,round 4", "each acknowledged record once, in order");
}

/// The unknown group is resolved by whichever comes first — the write that left it, or a reload
/// of the node's view (which must not read before it is known) — and the write is answered by
/// the truth either way. Found by `tests/ha.rs`: the reload won, and the write, finding nothing
/// left to resolve, failed with `internal`.
#[test]
fn a_reload_resolving_the_unknown_group_first_leaves_the_write_its_true_answer() {
    use argus_e2e::proxy::CommitCut;
    let backend = pg();
    let (proxy, store) = through_proxy(&backend);
    let writer = writer(&store, None);
    proxy.cut_at_next_commit(CommitCut::BeforeTheAnswerThenPartition);
    let unanswered = writer.stage(vec![Write::Pat(pat(1))], vec![entry(1)], Timestamp(1)).unwrap();
    std::thread::scope(|scope| {
        let waiting = scope.spawn(|| wait(&writer, unanswered));
        // The write is resolving and cannot reach the database; then it can, and a reload is
        // there first (the write retries every 200 ms).
        assert!(argus_e2e::wait_until(Duration::from_secs(10), || proxy.commits_cut() == 1));
        std::thread::sleep(Duration::from_millis(700));
        proxy.restore();
        let snapshot = store.load().expect("the reload resolves the group, then reads");
        assert_eq!(snapshot.pats, vec![pat(1)], "the group landed");
        waiting.join().unwrap().expect("the write is answered done: it landed");
    });
    assert_eq!(verify(store.as_ref(), None).unwrap(), Verification::Intact { records: 1 });
}

/// A store opened only to read (`audit verify --store`, a view load) writes nothing, not even
/// its writer's row; the first group creates it.
#[test]
fn a_store_opened_to_read_leaves_no_writer_row() {
    let backend = pg();
    let store = backend.open();
    store.load().unwrap();
    assert_eq!(verify(store.as_ref(), None).unwrap(), Verification::Intact { records: 0 });
    assert_eq!(backend.0.psql("argus", "SELECT count(*) FROM writer_groups"), "0");
    let writer = writer(&store, None);
    let first = writer.stage(vec![Write::Pat(pat(1))], vec![entry(1)], Timestamp(1)).unwrap();
    wait(&writer, first).unwrap();
    assert_eq!(backend.0.psql("argus", "SELECT count(*) FROM writer_groups WHERE group_id = 1"), "1");
}

/// A primary demoted to a standby in a failover keeps its connections open, now read-only:
/// writes answer 503 (not `internal`), the connection is dropped rather than reused, and once a
/// writable host is there again (here: the same one promoted back) the writer carries on.
#[test]
fn a_demoted_primary_answers_unavailable_and_the_next_connection_finds_the_writable_host() {
    let backend = pg();
    let store = backend.open();
    let writer = writer(&store, None);
    let first = writer.stage(vec![Write::Pat(pat(1))], vec![entry(1)], Timestamp(1)).unwrap();
    wait(&writer, first).unwrap();
    // Every session's next transaction is read-only, as on a standby.
    backend.0.psql("postgres", "ALTER SYSTEM SET default_transaction_read_only = on");
    backend.0.psql("postgres", "SELECT pg_reload_conf()");
    std::thread::sleep(Duration::from_millis(300));
    let refused = writer.stage(vec![Write::Pat(pat(2))], vec![entry(2)], Timestamp(2)).unwrap();
    let error = wait(&writer, refused).expect_err("no write on a read-only host");
    assert!(matches!(error, StoreError::Unavailable(_)), "503, not internal: {error:?}");
    backend.0.psql("postgres", "ALTER SYSTEM RESET default_transaction_read_only");
    backend.0.psql("postgres", "SELECT pg_reload_conf()");
    std::thread::sleep(Duration::from_millis(300));
    let snapshot = store.load().unwrap();
    writer.reloaded(snapshot.last_audit.as_ref(), snapshot.tenant_heads.clone());
    let next = writer.stage(vec![Write::Pat(pat(3))], vec![entry(3)], Timestamp(3)).unwrap();
    wait(&writer, next).expect("writes again on the writable host");
    assert_eq!(verify(store.as_ref(), None).unwrap(), Verification::Intact { records: 2 });
}

/// An end claim and its record are one transaction (found by the nemesis run: a claim committed
/// on its own, then its record lost in a failover, left a session ended with no end record and
/// let the agent's next session be recorded first). Cut before the server sees the COMMIT: the
/// session is still live and unrecorded, and the next claim decides and records it.
#[test]
fn an_end_claim_cut_before_its_commit_leaves_the_session_live_and_unrecorded() {
    use argus_e2e::proxy::CommitCut;
    let backend = pg();
    let (proxy, store) = through_proxy(&backend);
    let now = Timestamp(1_000);
    let first = session(1, 1_000);
    assert!(store.claim_live_session("a1", &first.id, first.expires_at, now).unwrap());
    store.commit(&[Write::Session(first.clone())]).unwrap();
    let mut ended = first.clone();
    argus_fsm::machine::Machine::handle(&mut ended, argus_fsm::session::SessionEvent::Deactivate, Timestamp(2_000))
        .unwrap();
    proxy.cut_at_next_commit(CommitCut::BeforeTheServer);
    let error = store.end_claim(&ended, end_record(&first.id)).expect_err("the claim's COMMIT never arrived");
    assert!(matches!(error, StoreError::Unavailable(_)), "{error:?}");
    assert_eq!(backend.0.psql("argus", "SELECT count(*) FROM sessions WHERE active"), "1", "still live");
    assert_eq!(backend.0.psql("argus", "SELECT count(*) FROM live_sessions"), "1", "the agent's claim held");
    assert_eq!(backend.0.psql("argus", "SELECT count(*) FROM audit"), "0", "no record");
    assert_eq!(store.end_claim(&ended, end_record(&first.id)).unwrap(), EndClaim::Recorded);
    assert_eq!(backend.0.psql("argus", "SELECT count(*) FROM live_sessions"), "0");
    assert_eq!(verify(store.as_ref(), None).unwrap(), Verification::Intact { records: 1 });
}
