//! Every example in manifests/ is valid (parsed, defaulted and validated the way the static pod
//! source does) and declares one pod or one workload. manifests_e2e.rs runs each on a node.

#[test]
fn example_manifests_are_valid_pods() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../manifests");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().and_then(|x| x.to_str()) != Some("yaml") {
            continue;
        }
        let bytes = std::fs::read(&p).unwrap();
        let m = nodelet_objects::manifest::parse_manifest_all(
            &p,
            &bytes,
            "node1",
            jiff::Timestamp::now(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let workloads = m
            .objects
            .iter()
            .filter(|o| !matches!(o.object.kind(), "ConfigMap" | "Secret"))
            .count();
        assert_eq!(m.pods.len() + workloads, 1, "{}", p.display());
        n += 1;
    }
    assert!(n >= 7, "{n} manifests");
}
