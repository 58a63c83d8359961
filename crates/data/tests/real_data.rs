//! The real data sets load and split deterministically and disjointly.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::collections::HashSet;

use coinfer_data::{load, DatasetName, Split};

fn fingerprint(d: &coinfer_data::Dataset, i: usize) -> Vec<u32> {
    let k = d.image_len();
    d.images[i * k..(i + 1) * k].iter().map(|v| v.to_bits()).collect()
}

#[test]
fn fashion_mnist_has_the_official_sizes() {
    let test = load(DatasetName::FashionMnist, Split::Test).unwrap();
    assert_eq!((test.len(), test.image_shape), (10_000, [1, 28, 28]));
    let val = load(DatasetName::FashionMnist, Split::Val).unwrap();
    let train = load(DatasetName::FashionMnist, Split::Train).unwrap();
    assert_eq!((train.len(), val.len()), (55_000, 5_000));
    // Pixels in [0, 1], labels in 0..10, every class present in the test set (1,000 each).
    assert!(test.images.iter().all(|&p| (0.0..=1.0).contains(&p)));
    for c in 0..10u8 {
        assert_eq!(test.labels.iter().filter(|&&l| l == c).count(), 1000);
    }
}

#[test]
fn small_sets_split_70_15_15_disjoint_and_deterministic() {
    for (name, n, shape) in
        [(DatasetName::Mnist5k, 5000, [1, 28, 28]), (DatasetName::Digits, 1797, [1, 8, 8])]
    {
        let parts: Vec<_> =
            [Split::Train, Split::Val, Split::Test].map(|s| load(name, s).unwrap()).into();
        assert_eq!(parts.iter().map(|p| p.len()).sum::<usize>(), n, "{name}");
        assert_eq!(parts[1].len(), n * 15 / 100);
        assert!(parts.iter().all(|p| p.image_shape == shape));
        let mut seen = HashSet::new();
        for p in &parts {
            for i in 0..p.len() {
                let mut key = fingerprint(p, i);
                key.push(p.labels[i] as u32);
                // Duplicated images across splits would mean leakage (exact duplicates within
                // the source files are tolerated by counting below).
                seen.insert(key);
            }
        }
        assert!(seen.len() as f64 >= 0.99 * n as f64, "{name}: {} distinct of {n}", seen.len());
        let again = load(name, Split::Val).unwrap();
        assert_eq!(again.labels, parts[1].labels, "{name}: split is not deterministic");
    }
}

/// Every sample of a split, as (pixels, label), counted: a multiset.
fn multiset(parts: &[&coinfer_data::Dataset]) -> std::collections::HashMap<Vec<u32>, usize> {
    let mut m = std::collections::HashMap::new();
    for p in parts {
        for i in 0..p.len() {
            let mut key = fingerprint(p, i);
            key.push(p.labels[i] as u32);
            *m.entry(key).or_insert(0) += 1;
        }
    }
    m
}

/// The splits partition their source file: together they hold each of its samples exactly as
/// often as the file does (so no sample is in two splits and none is lost), for all three
/// data sets. Fashion-MNIST's train and val come from its 60k file, its test set is another.
#[test]
fn train_val_and_test_partition_their_source_exactly() {
    for name in DatasetName::ALL {
        let [train, val, test] =
            [Split::Train, Split::Val, Split::Test].map(|s| load(name, s).unwrap());
        let source = coinfer_data::load_unsplit(name).unwrap();
        let carved: Vec<&coinfer_data::Dataset> = if name == DatasetName::FashionMnist {
            vec![&train, &val]
        } else {
            vec![&train, &val, &test]
        };
        assert_eq!(carved.iter().map(|d| d.len()).sum::<usize>(), source.len(), "{name}");
        assert!(
            multiset(&carved) == multiset(&[&source]),
            "{name}: the splits are not a partition"
        );
        assert!(!val.is_empty() && !test.is_empty(), "{name}");
    }
    // The official Fashion-MNIST test file shares no (image, label) with the training file.
    let train = coinfer_data::load_unsplit(DatasetName::FashionMnist).unwrap();
    let test = load(DatasetName::FashionMnist, Split::Test).unwrap();
    let seen = multiset(&[&train]);
    let shared = (0..test.len())
        .filter(|&i| {
            let mut key = fingerprint(&test, i);
            key.push(test.labels[i] as u32);
            seen.contains_key(&key)
        })
        .count();
    assert_eq!(shared, 0, "{shared} test samples are also in the training file");
}
