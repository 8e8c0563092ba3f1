//! The container image, checked statically: its rules, read from the
//! Dockerfile. CI also runs hadolint over it, and builds and runs the image under
//! podman (`.ci/container/run.sh`).

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

/// The default of a build argument.
fn arg_default(name: &str) -> String {
    dockerfile()
        .lines()
        .find_map(|l| l.strip_prefix(&format!("ARG {name}=")).map(str::to_owned))
        .unwrap_or_else(|| panic!("ARG {name} has a default"))
}

#[test]
fn the_image_is_built_in_stages_with_a_dependency_layer() {
    let dockerfile = dockerfile();
    let froms: Vec<&str> = dockerfile
        .lines()
        .filter(|l| l.starts_with("FROM "))
        .collect();
    assert_eq!(
        froms,
        [
            "FROM ${BUILD_IMAGE} AS build",
            "FROM scratch AS prebuilt",
            "FROM ${BINARY_FROM} AS binary",
            "FROM ${RUNTIME_IMAGE} AS home",
            "FROM ${RUNTIME_IMAGE}",
        ],
        "build, or a binary built outside; then the runtime stage"
    );
    assert!(
        arg_default("BUILD_IMAGE").starts_with("rust:1.95"),
        "pinned toolchain"
    );
    assert_eq!(
        arg_default("BINARY_FROM"),
        "build",
        "users build from source"
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
        arg_default("RUNTIME_IMAGE").starts_with("gcr.io/distroless/cc-debian12"),
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
