//! The container image, checked statically (no container engine runs here; CI
//! also runs hadolint over the Dockerfile).

fn dockerfile() -> String {
    std::fs::read_to_string("Dockerfile").unwrap()
}

/// The instructions of the last (runtime) stage, continuation lines joined.
fn runtime_stage() -> Vec<String> {
    let joined = dockerfile().replace("\\\n", " ");
    let lines: Vec<String> = joined
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect();
    let last_from = lines.iter().rposition(|l| l.starts_with("FROM ")).unwrap();
    lines[last_from..].to_vec()
}

#[test]
fn the_image_is_built_in_stages_with_a_dependency_layer() {
    let dockerfile = dockerfile();
    let froms: Vec<&str> = dockerfile
        .lines()
        .filter(|l| l.starts_with("FROM "))
        .collect();
    assert_eq!(froms.len(), 2, "build and runtime stages");
    assert!(
        froms[0].contains("rust:1.95") && froms[0].ends_with(" AS build"),
        "pinned toolchain"
    );
    let manifest = dockerfile.find("COPY Cargo.toml Cargo.lock").unwrap();
    let sources = dockerfile.find("COPY src src").unwrap();
    let first_build = dockerfile.find("cargo build --release --locked").unwrap();
    assert!(
        manifest < first_build && first_build < sources,
        "dependencies build before the sources arrive"
    );
    for folder in ["migrations", "templates", "static"] {
        assert!(
            dockerfile.contains(&format!("COPY {folder} {folder}")),
            "{folder} is compiled in"
        );
    }
}

#[test]
fn the_image_refuses_benchmark_builds() {
    let dockerfile = dockerfile();
    let set = dockerfile
        .find("ENV SIGNUP_OTP_RELEASE_IMAGE=1")
        .expect("the build stage sets SIGNUP_OTP_RELEASE_IMAGE");
    let first_build = dockerfile.find("cargo build").unwrap();
    assert!(set < first_build, "set before anything is compiled");
    assert!(
        dockerfile
            .lines()
            .filter(|line| line.contains("cargo build"))
            .all(|line| !line.contains("--features") && !line.contains("--all-features")),
        "the image is built with the default features"
    );
    // The crate refuses the feature when that variable is set at build time.
    let source = std::fs::read_to_string("src/domain/otp_code.rs").unwrap();
    assert!(source.contains("option_env!(\"SIGNUP_OTP_RELEASE_IMAGE\").is_none()"));
}

#[test]
fn the_runtime_stage_is_small_non_root_and_self_checking() {
    let stage = runtime_stage();
    let has = |prefix: &str| stage.iter().find(|l| l.starts_with(prefix)).cloned();
    assert!(
        has("FROM ").unwrap().contains("distroless"),
        "a small runtime image"
    );
    let user = has("USER ").expect("a USER");
    assert!(!user.contains("root") && !user.ends_with(" 0"), "{user}");
    assert_eq!(has("EXPOSE ").as_deref(), Some("EXPOSE 8080"));
    assert!(has("ENV ").unwrap().contains("BIND_ADDR=0.0.0.0:8080"));
    let healthcheck = has("HEALTHCHECK ").expect("a HEALTHCHECK");
    assert!(
        healthcheck.contains("signup-otp\", \"healthcheck\""),
        "{healthcheck}"
    );
    assert!(
        has("CMD ").unwrap().contains("serve"),
        "serve (which migrates) by default"
    );
}

#[test]
fn the_build_context_leaves_out_build_output_and_secrets() {
    let ignore = std::fs::read_to_string(".dockerignore").unwrap();
    for entry in ["target", ".git", ".env", "*.db"] {
        assert!(ignore.lines().any(|l| l.trim() == entry), "{entry}");
    }
}
