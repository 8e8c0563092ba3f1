//! Which integration tests can run on this machine: the PostgreSQL cases need
//! `TEST_DATABASE_URL`, the browser cases Debian's Chromium. Those that cannot
//! run are compiled as ignored, with the reason, so that `cargo test` reports
//! them as not run rather than as passed (and `--include-ignored` makes them
//! fail loudly instead).

fn main() {
    println!("cargo::rustc-check-cfg=cfg(postgres_tests)");
    println!("cargo::rustc-check-cfg=cfg(browser_tests)");
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=TEST_DATABASE_URL");
    if std::env::var("TEST_DATABASE_URL").is_ok_and(|url| !url.trim().is_empty()) {
        println!("cargo::rustc-cfg=postgres_tests");
    }
    // Installing or removing Chromium changes /usr/bin, which reruns this.
    println!("cargo::rerun-if-changed=/usr/bin");
    let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"];
    if chromium
        .iter()
        .any(|path| std::path::Path::new(path).exists())
    {
        println!("cargo::rustc-cfg=browser_tests");
    }
}
