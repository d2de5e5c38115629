//! Every example in manifests/ is a valid static pod (parsed, defaulted and validated the way
//! the static pod source does). manifests_e2e.rs runs each of them on a node.

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
        let pods =
            nodelet_objects::manifest::parse_manifest(&p, &bytes, "node1", jiff::Timestamp::now())
                .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(pods.len(), 1, "{}", p.display());
        n += 1;
    }
    assert!(n >= 7, "{n} manifests");
}
