//! A missing data set says how to install it. Its own test binary: it sets an environment
//! variable, which must not race with tests that load data.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use coinfer_data::{load, DataError, DatasetName, Split};

#[test]
fn missing_data_set_says_how_to_install_it() {
    // Only the directories in COINFER_SITE_PACKAGES are searched when it is set.
    let dir = tempfile::tempdir().unwrap();
    std::env::set_var("COINFER_SITE_PACKAGES", dir.path());
    let err = load(DatasetName::Digits, Split::Test).unwrap_err();
    std::env::remove_var("COINFER_SITE_PACKAGES");
    match &err {
        DataError::Missing { dataset, install, .. } => {
            assert_eq!(dataset, "digits");
            assert!(install.contains("setup.sh"), "{install}");
        }
        other => panic!("expected Missing, got {other:?}"),
    }
    assert!("imagenet".parse::<DatasetName>().unwrap_err().to_string().contains("fashion-mnist"));
}
