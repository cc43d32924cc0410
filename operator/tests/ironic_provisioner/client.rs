//! The HTTP client: microversion negotiation, basic auth, the conductor check, timeouts and
//! unreachable endpoints, TLS roots, and the BMC password kept out of logs and errors.

use super::support::*;

#[derive(Clone, Default)]
struct LogBuffer(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn the_version_is_negotiated_once_across_many_concurrent_calls() {
    let (double, p) = setup("1.115").await;
    let p = Arc::new(p);
    let id = double.seed_node(Some("metal3~worker-0"), "manageable");
    let mut tasks = Vec::new();
    for _ in 0..40 {
        let p = p.clone();
        let h = host(Some(&id));
        tasks.push(tokio::spawn(async move { p.observe(&h).await }));
    }
    for t in tasks {
        assert!(matches!(t.await.unwrap().unwrap(), Observation::Node(_)));
    }
    let roots = double.lines().iter().filter(|l| *l == "GET /").count();
    assert_eq!(roots, 1);
    assert_eq!(p.api_calls(), 41);
}

#[tokio::test]
async fn the_highest_version_both_sides_support_is_used() {
    let (double, p) = setup("1.95").await;
    p.observe(&host(None)).await.unwrap();
    assert_eq!(double.requests()[1].version.as_deref(), Some("1.95"));
    assert_eq!(p.client().api_version().await.unwrap().to_string(), "1.95");
}

#[tokio::test]
async fn an_ironic_older_than_1_89_is_refused_clearly() {
    let (double, p) = setup("1.80").await;
    let err = p.observe(&host(None)).await.unwrap_err();
    match err {
        ProvisionerError::VersionTooOld { found, required } => {
            assert_eq!(found, "1.80");
            assert_eq!(required, "1.89");
        }
        other => panic!("expected VersionTooOld, got {other:?}"),
    }
    assert_eq!(double.lines(), vec!["GET /"]);
}

#[tokio::test]
async fn basic_auth_is_sent_on_every_call() {
    let double = IronicDouble::start("1.115").await;
    let mut config = ClientConfig::new(format!("{}/v1/", double.endpoint()));
    config.basic_auth = Some(Credentials {
        username: "ironic".into(),
        password: "pw".into(),
    });
    let p = IronicProvisioner::new(
        Arc::new(IronicClient::new(config).unwrap()),
        IronicSettings::default(),
    );
    p.observe(&host(None)).await.unwrap();
    let reqs = double.requests();
    assert_eq!(
        reqs[0].path, "/",
        "a /v1 suffix on the endpoint is tolerated"
    );
    for r in reqs {
        assert_eq!(r.authorization.as_deref(), Some("Basic aXJvbmljOnB3"));
    }
}

#[tokio::test]
async fn the_drivers_list_shows_whether_a_conductor_is_up() {
    let (double, p) = setup("1.115").await;
    assert_eq!(p.client().drivers().await.unwrap(), ["ipmi", "redfish"]);
    assert_eq!(double.lines(), ["GET /", "GET /v1/drivers"]);
}

#[tokio::test]
async fn a_silent_ironic_times_out_as_unavailable() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // Accept connections and never answer.
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            open.push(socket);
        }
    });
    let mut config = ClientConfig::new(format!("http://{addr}"));
    config.timeout = Duration::from_millis(300);
    let p = IronicProvisioner::new(
        Arc::new(IronicClient::new(config).unwrap()),
        IronicSettings::default(),
    );
    let started = std::time::Instant::now();
    match p.observe(&host(None)).await.unwrap() {
        Observation::Unavailable(why) => assert!(
            why.contains("timed out") || why.contains("timeout"),
            "{why}"
        ),
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    held.abort();
}

#[tokio::test]
async fn an_unreachable_ironic_is_observed_as_unavailable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let mut config = ClientConfig::new(format!("http://{addr}"));
    config.timeout = Duration::from_secs(2);
    let p = IronicProvisioner::new(
        Arc::new(IronicClient::new(config).unwrap()),
        IronicSettings::default(),
    );
    match p.observe(&host(None)).await.unwrap() {
        Observation::Unavailable(why) => assert!(why.contains("version discovery"), "{why}"),
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn a_ca_file_verifies_ironic_a_wrong_ca_fails_and_insecure_skips_verification() {
    let server_cert = metal_tls::Leaf::self_signed(&["127.0.0.1", "localhost"]).unwrap();
    let other_cert = metal_tls::Leaf::self_signed(&["127.0.0.1"]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca_path = dir.path().join("ca.pem");
    std::fs::write(&ca_path, &server_cert.cert_pem).unwrap();

    let double = IronicDouble::start("1.115").await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let tls = axum_server::tls_rustls::RustlsConfig::from_config(Arc::new(
        server_cert.server_config().unwrap(),
    ));
    let app = IronicDouble::router(double.state.clone());
    let server = axum_server::from_tcp_rustls(listener, tls).unwrap();
    tokio::spawn(async move { server.serve(app.into_make_service()).await.unwrap() });

    let mut good = ClientConfig::new(format!("https://{addr}"));
    good.ca_pem = Some(std::fs::read(&ca_path).unwrap());
    let p = IronicProvisioner::new(
        Arc::new(IronicClient::new(good).unwrap()),
        IronicSettings::default(),
    );
    assert_eq!(
        p.observe(&host(None)).await.unwrap(),
        Observation::NotRegistered
    );

    let mut wrong = ClientConfig::new(format!("https://{addr}"));
    wrong.ca_pem = Some(other_cert.cert_pem.into_bytes());
    let p = IronicProvisioner::new(
        Arc::new(IronicClient::new(wrong).unwrap()),
        IronicSettings::default(),
    );
    match p.observe(&host(None)).await.unwrap() {
        Observation::Unavailable(why) => {
            assert!(why.to_lowercase().contains("certificate"), "{why}");
        }
        other => panic!("a wrong CA must not verify, got {other:?}"),
    }

    let mut insecure = ClientConfig::new(format!("https://{addr}"));
    insecure.insecure = true;
    let p = IronicProvisioner::new(
        Arc::new(IronicClient::new(insecure).unwrap()),
        IronicSettings::default(),
    );
    assert_eq!(
        p.observe(&host(None)).await.unwrap(),
        Observation::NotRegistered,
        "insecure accepts a certificate no CA vouches for"
    );

    let mut garbage = ClientConfig::new(format!("https://{addr}"));
    garbage.ca_pem = Some(b"not a pem".to_vec());
    let err = IronicClient::new(garbage).unwrap_err();
    assert!(
        err.to_string().contains("CA file holds no certificate"),
        "{err}"
    );
}

#[tokio::test]
async fn the_bmc_password_never_reaches_logs_debug_output_or_errors() {
    let logs = LogBuffer::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let (double, p) = setup("1.115").await;
    let reg = registration("redfish://10.0.0.5/redfish/v1/Systems/1", "fp-1");
    let id = accepted_id(
        p.act(&host(None), &Action::Register(reg.clone()))
            .await
            .unwrap(),
    );
    let mut rotated = reg.clone();
    rotated.fingerprint = "fp-2".into();
    p.act(&host(Some(&id)), &Action::Register(rotated))
        .await
        .unwrap();
    // A rejected request with credentials in flight.
    double.set(|s| s.locked_for = 0);
    let err = p
        .act(
            &host(Some("missing")),
            &Action::Register(registration("ipmi://10.0.0.9", "fp-3")),
        )
        .await
        .map(|_| ())
        .err();

    let mut text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    text.push_str(&format!(
        "{reg:?} {:?} {err:?} {p:?}",
        Action::Register(reg.clone())
    ));
    let mut config = ClientConfig::new("http://127.0.0.1:1");
    config.basic_auth = Some(Credentials {
        username: "u".into(),
        password: "s3cret-pw".into(),
    });
    text.push_str(&format!("{config:?}"));
    assert!(
        text.contains("ironic node created"),
        "the subscriber captured the provisioner's logs"
    );
    assert!(!text.contains("s3cret-pw"), "password leaked:\n{text}");
}
