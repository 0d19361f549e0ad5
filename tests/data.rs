//! The data module: datasets, loaders, splits, the standardizer, CSV with errors
//! naming line and column, and the metrics.

use gradnet::data::csv::{read_classification, read_regression, CsvOptions};
use gradnet::data::{stratified_split, train_test_split, DataError, Dataset, Loader, Standardizer};
use gradnet::metrics::{Accuracy, BinaryAccuracy, Mae, Metric, Mse, TopK, R2};
use gradnet::prelude::*;
use gradnet::{Seq, SeqClasses};

#[test]
fn csv_classification_and_regression_read_their_columns() {
    let text = "a,b,label\n1,2,0\n3.5,-4e-1,2\n";
    let d = read_classification::<f64, 2, _>(text.as_bytes(), 3, &CsvOptions::new().header(true))
        .unwrap();
    assert_eq!(d.x().as_slice(), &[1.0, 2.0, 3.5, -0.4]);
    assert_eq!(d.y(), &vec![0, 2]);

    let first = "7;1;2\n8;3;4\n";
    let opts = CsvOptions::new().delimiter(b';').target_first(true);
    let d = read_regression::<f32, 2, 1, _>(first.as_bytes(), &opts).unwrap();
    assert_eq!(d.x().as_slice(), &[1.0, 2.0, 3.0, 4.0]);
    assert_eq!(d.y().as_slice(), &[7.0, 8.0]);
}

#[test]
fn bad_csv_names_its_line_and_column() {
    let opts = CsvOptions::new().header(true);
    let read = |t: &str| read_classification::<f32, 2, _>(t.as_bytes(), 3, &opts).unwrap_err();
    let e = read("a,b,c\n1,2,0\n1,2\n");
    assert!(
        matches!(
            e,
            DataError::RowWidth {
                line: 3,
                expected: 3,
                found: 2
            }
        ),
        "{e}"
    );
    let e = read("a,b,c\n1,2,0\n1,x,0\n");
    assert!(
        matches!(&e, DataError::NotANumber { line: 3, column: 2, text } if text == "x"),
        "{e}"
    );
    let e = read("a,b,c\nNaN,2,0\n");
    assert!(
        matches!(
            e,
            DataError::NotANumber {
                line: 2,
                column: 1,
                ..
            }
        ),
        "{e}"
    );
    let e = read("a,b,c\n1,2,3\n");
    assert!(
        matches!(
            e,
            DataError::BadClass {
                line: 2,
                column: 3,
                classes: 3,
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(
        e.to_string(),
        "line 2, column 3: \"3\" is not a class index in 0..3"
    );
    let e = read("a,b,c\n1,2,-1\n");
    assert!(matches!(e, DataError::BadClass { .. }), "{e}");
    let e = read("a,b,c\n");
    assert!(matches!(e, DataError::Empty), "{e}");
    // 1e39 is finite in f64 but not in f32.
    let e = read("a,b,c\n1e39,2,0\n");
    assert!(
        matches!(
            e,
            DataError::NotANumber {
                line: 2,
                column: 1,
                ..
            }
        ),
        "{e}"
    );
    let e = read_classification::<f32, 2, _>(&b"a,b,c\n\xff,2,0\n"[..], 3, &opts).unwrap_err();
    assert!(matches!(e, DataError::Csv { line: 2, .. }), "{e}");
    let e = gradnet::data::csv::load_classification::<f32, 2>("/no/such/file.csv", 3, &opts)
        .unwrap_err();
    assert!(matches!(e, DataError::Io { .. }), "{e}");
}

#[test]
fn datasets_check_their_parts() {
    let x = Batch::<f64, 1>::from_slice(&[1.0, 2.0, 3.0]).unwrap();
    assert!(matches!(
        Dataset::new(x.clone(), vec![0, 1]),
        Err(DataError::LengthMismatch {
            inputs: 3,
            targets: 2
        })
    ));
    assert!(matches!(
        Dataset::new(Batch::<f64, 1>::new(), Vec::new()),
        Err(DataError::Empty)
    ));
    let e = Dataset::<Batch<f64, 2>, _>::from_slices(&[1.0, f64::NAN], vec![0]).unwrap_err();
    assert!(
        matches!(
            e,
            DataError::Core(gradnet::Error::NonFinite { row: 0, col: 1, .. })
        ),
        "{e}"
    );
    let d = Dataset::new(x, vec![0, 1, 2]).unwrap();
    assert!(matches!(
        d.subset(&[0, 3]),
        Err(DataError::IndexOutOfRange { index: 3, len: 3 })
    ));
    let s = d.subset(&[2, 0]).unwrap();
    assert_eq!(
        (s.x().as_slice(), s.y().as_slice()),
        (&[3.0, 1.0][..], &[2, 0][..])
    );
    let (a, b) = d.split_last(0.34).unwrap();
    assert_eq!(
        (a.y().as_slice(), b.y().as_slice()),
        (&[0][..], &[1, 2][..])
    );
    assert!(matches!(
        d.split_last(1.5),
        Err(DataError::InvalidFraction(_))
    ));
}

#[test]
fn splits_partition_and_stratify() {
    let (train, test) = train_test_split(10, 0.25, &mut seeded(0)).unwrap();
    assert_eq!((train.len(), test.len()), (7, 3));
    let mut all: Vec<usize> = train.iter().chain(&test).copied().collect();
    all.sort_unstable();
    assert_eq!(all, (0..10).collect::<Vec<_>>());

    let labels: Vec<usize> = (0..100)
        .map(|i| usize::from(i >= 70) + usize::from(i >= 90))
        .collect();
    let (train, test) = stratified_split(&labels, 0.2, &mut seeded(1)).unwrap();
    let count = |idx: &[usize], c| idx.iter().filter(|&&i| labels[i] == c).count();
    assert_eq!(
        [count(&test, 0), count(&test, 1), count(&test, 2)],
        [14, 4, 2]
    );
    assert_eq!(train.len() + test.len(), 100);
    let mut all: Vec<usize> = train.iter().chain(&test).copied().collect();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), 100);
    assert!(matches!(
        stratified_split(&labels, -0.1, &mut seeded(1)),
        Err(DataError::InvalidFraction(_))
    ));
}

#[test]
fn loaders_shuffle_by_seed_drop_the_last_batch_and_cover_every_example() {
    let x = Batch::<f32, 1>::from_slice(&(0..10).map(|i| i as f32).collect::<Vec<_>>()).unwrap();
    let data = Dataset::new(x, (0..10).collect::<Vec<usize>>()).unwrap();
    let epoch = |l: &mut Loader<Batch<f32, 1>, Vec<usize>>| {
        l.start_epoch(data.len());
        let mut seen = Vec::new();
        while let Some((xb, yb)) = l.next_batch(&data) {
            assert_eq!(
                xb.as_slice(),
                yb.iter().map(|&i| i as f32).collect::<Vec<_>>()
            );
            seen.push(yb.clone());
        }
        seen
    };
    let mut a = Loader::new(4).unwrap().shuffle(5);
    let mut b = Loader::new(4).unwrap().shuffle(5);
    let (ea, eb) = (epoch(&mut a), epoch(&mut b));
    assert_eq!(ea, eb);
    assert_eq!(ea.iter().map(Vec::len).collect::<Vec<_>>(), [4, 4, 2]);
    assert_ne!(epoch(&mut a), ea, "each epoch has its own order");
    let mut flat: Vec<usize> = ea.concat();
    flat.sort_unstable();
    assert_eq!(flat, (0..10).collect::<Vec<_>>());

    let mut d = Loader::new(4).unwrap().drop_last(true);
    assert_eq!(d.batches_per_epoch(10), 2);
    assert_eq!(epoch(&mut d), vec![vec![0, 1, 2, 3], vec![4, 5, 6, 7]]);
    assert!(matches!(
        Loader::<Batch<f32, 1>, Vec<usize>>::new(0),
        Err(DataError::ZeroBatchSize)
    ));
}

#[test]
fn sequences_gather_whole_sequences() {
    // 3 sequences of 2 steps, width 1: value = 10 * row + step.
    let bf = [0.0, 1.0, 10.0, 11.0, 20.0, 21.0];
    let s = Seq::<f64, 1>::from_batch_first(&bf, 2).unwrap();
    let c = SeqClasses::from_batch_first(&[0, 1, 2, 3, 4, 5], 2).unwrap();
    let data = Dataset::new(s, c).unwrap();
    let (mut xs, mut ys) = (Seq::new(), SeqClasses::default());
    data.gather_into(&[2, 0], &mut xs, &mut ys).unwrap();
    assert_eq!(xs.to_batch_first(), [20.0, 21.0, 0.0, 1.0]);
    assert_eq!((ys.steps(), ys.rows()), (2, 2));
    assert_eq!(ys.as_slice(), &[4, 0, 5, 1], "time-major");
    assert!(matches!(
        data.gather_into(&[3], &mut xs, &mut ys),
        Err(DataError::IndexOutOfRange { index: 3, .. })
    ));
    assert_eq!(xs.rows(), 2, "nothing changed");
}

#[test]
fn the_standardizer_uses_the_fitted_statistics_only() {
    let train = Batch::<f32, 2>::from_rows(&[[0.0, 7.0], [2.0, 7.0], [4.0, 7.0]]).unwrap();
    let s = Standardizer::fit(&train).unwrap();
    assert_eq!(s.mean(), &[2.0, 7.0]);
    assert_eq!(s.scale()[1], 1.0, "a constant feature keeps scale 1");
    let mut other = Batch::<f32, 2>::from_rows(&[[2.0 + 8f32.sqrt() / 3f32.sqrt(), 8.0]]).unwrap();
    s.transform_in_place(&mut other).unwrap();
    assert!((other.row(0)[0] - 1.0).abs() < 1e-6 && other.row(0)[1] == 1.0);
    s.inverse_in_place(&mut other);
    assert!((other.row(0)[1] - 8.0).abs() < 1e-6);
    assert!(matches!(
        Standardizer::<2>::fit(&Batch::<f32, 2>::new()),
        Err(DataError::Empty)
    ));
}

#[test]
fn sampling_needs_no_rand_traits_and_checks_its_settings() {
    let mut rng = seeded(0);
    let mut v = vec![0.0f64; 20_000];
    gradnet::rng::fill_normal(&mut v, 2.0, 3.0, &mut rng).unwrap();
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / v.len() as f64;
    assert!(
        (mean - 2.0).abs() < 0.1 && (var.sqrt() - 3.0).abs() < 0.1,
        "{mean} {var}"
    );
    gradnet::rng::fill_uniform(&mut v, -1.0, 0.5, &mut rng).unwrap();
    assert!(v.iter().all(|&x| (-1.0..0.5).contains(&x)));
    let before = rng.clone();
    assert!(gradnet::rng::normal::<f32>(&mut rng, 0.0, f64::NAN).is_err());
    assert!(gradnet::rng::uniform::<f32>(&mut rng, 1.0, 0.0).is_err());
    assert!(gradnet::rng::fill_normal(&mut v, 0.0, -1.0, &mut rng).is_err());
    assert_eq!(rng, before, "a refused draw draws nothing");
    let (mut a, mut b) = (seeded(9), seeded(9));
    let x: f32 = gradnet::rng::uniform(&mut a, 0.0, 1.0).unwrap();
    assert_eq!(x, gradnet::rng::uniform::<f32>(&mut b, 0.0, 1.0).unwrap());
}

#[test]
fn metrics_match_direct_computations() {
    let logits = Batch::<f64, 3>::from_rows(&[
        [3.0, 1.0, 2.0],
        [0.0, 5.0, 1.0],
        [1.0, 2.0, 3.0],
        [4.0, 0.0, 0.5],
    ])
    .unwrap();
    let labels = [0usize, 2, 2, 1];
    let value = |m: &dyn Metric<Batch<f64, 3>, [usize]>| {
        let mut sums = Vec::new();
        // Two batches give the value of one.
        m.update(&mut sums, &logits, &labels);
        m.update(&mut sums, &logits, &labels);
        m.value(&sums)
    };
    assert_eq!(value(&Accuracy), 0.5);
    assert_eq!(value(&TopK(2)), 0.75);
    assert_eq!(value(&TopK(3)), 1.0);
    assert!(Metric::<Batch<f64, 3>, [usize]>::value(&Accuracy, &[]).is_nan());

    let out = Batch::<f64, 2>::from_rows(&[[1.0, 0.0], [2.0, 1.0], [4.0, 3.0]]).unwrap();
    let y = Batch::<f64, 2>::from_rows(&[[1.0, 1.0], [3.0, 1.0], [5.0, 2.0]]).unwrap();
    let v = |m: &dyn Metric<Batch<f64, 2>, Batch<f64, 2>>| {
        let mut sums = Vec::new();
        m.update(&mut sums, &out, &y);
        m.value(&sums)
    };
    assert_eq!(v(&Mse), 4.0 / 6.0);
    assert_eq!(v(&Mae), 4.0 / 6.0);
    // Per column: y0 = 1, 3, 5 (SS_tot 8, SS_res 2); y1 = 1, 1, 2 (SS_tot 2/3, SS_res 2).
    let r2 = (1.0 - 2.0 / 8.0 + 1.0 - 2.0 / (2.0 / 3.0)) / 2.0;
    assert!((v(&R2) - r2).abs() < 1e-12);
    // Far from 0 the shifted sums stay exact.
    let shift = |b: &Batch<f64, 2>| {
        Batch::<f64, 2>::from_vec(b.as_slice().iter().map(|x| x + 1e9).collect()).unwrap()
    };
    let mut sums = Vec::new();
    R2.update(&mut sums, &shift(&out), &shift(&y));
    assert!((Metric::<Batch<f64, 2>, Batch<f64, 2>>::value(&R2, &sums) - r2).abs() < 1e-9);

    let p = Batch::<f32, 1>::from_slice(&[2.0, -1.0, 0.5]).unwrap();
    let t = Batch::<f32, 1>::from_slice(&[1.0, 1.0, 0.0]).unwrap();
    let mut sums = Vec::new();
    BinaryAccuracy.update(&mut sums, &p, &t);
    assert_eq!(
        Metric::<Batch<f32, 1>, Batch<f32, 1>>::value(&BinaryAccuracy, &sums),
        1.0 / 3.0
    );

    // Over sequences, every step and row.
    let s = Seq::<f64, 2>::from_time_major(vec![1.0, 0.0, 0.0, 1.0], 2).unwrap();
    let c = SeqClasses::from_time_major(vec![0, 0], 2).unwrap();
    let mut sums = Vec::new();
    Accuracy.update(&mut sums, &s, &c);
    assert_eq!(
        Metric::<Seq<f64, 2>, SeqClasses>::value(&Accuracy, &sums),
        0.5
    );
}
