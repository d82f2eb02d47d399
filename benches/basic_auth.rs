//! Benchmark of basic-auth checks (`server::basic_auth`): how long a 401 takes for a wrong
//! password of a known user and for a user that does not exist (they must not differ by more
//! than the noise, or the time tells which users exist), and what a scrape with the right,
//! already verified credentials costs. Run with `cargo bench --bench basic_auth`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use headroom::server::basic_auth::Users;

const ROUNDS: usize = 40;
/// The cost of the exporter toolkit's example (about 70 ms per check on its reference machine).
const COST: u32 = 10;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let mut hashes = BTreeMap::new();
    for user in ["prometheus", "ops"] {
        let hash = bcrypt::hash(format!("{user}-password"), COST).unwrap_or_else(|e| panic!("{e}"));
        hashes.insert(user.to_string(), hash);
    }
    let users = Users::new(hashes).unwrap_or_else(|e| panic!("{e:?}"));
    runtime.block_on(async {
        assert!(users.check("prometheus", b"prometheus-password").await);
        let time = |user: &'static str, password: &'static [u8]| {
            let users = &users;
            async move {
                let t = Instant::now();
                let ok = users.check(user, password).await;
                (t.elapsed(), ok)
            }
        };
        let (mut wrong, mut unknown, mut cached) = (Vec::new(), Vec::new(), Vec::new());
        // Interleaved, so drift of the machine touches each kind alike.
        for _ in 0..ROUNDS {
            let (d, ok) = time("prometheus", b"guessed").await;
            assert!(!ok);
            wrong.push(d);
            let (d, ok) = time("nobody", b"guessed").await;
            assert!(!ok);
            unknown.push(d);
            let (d, ok) = time("prometheus", b"prometheus-password").await;
            assert!(ok);
            cached.push(d);
        }
        let (w, u, c) = (median(wrong), median(unknown), median(cached));
        let gap = (w.as_secs_f64() - u.as_secs_f64()).abs() / w.as_secs_f64().max(1e-9);
        println!("basic auth, bcrypt cost {COST}, {ROUNDS} rounds (medians):");
        println!(
            "  401, known user, wrong password: {:>9.3} ms",
            w.as_secs_f64() * 1e3
        );
        println!(
            "  401, unknown user:               {:>9.3} ms",
            u.as_secs_f64() * 1e3
        );
        println!("  difference:                      {:>9.1} %", gap * 100.0);
        println!(
            "  200, verified credentials:       {:>9.3} ms",
            c.as_secs_f64() * 1e3
        );
    });
}
