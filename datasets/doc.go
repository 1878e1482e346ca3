// Package datasets holds small real data sets as .npz problem files, made from
// the BSD-licensed copies that scikit-learn distributes (diabetes, breast
// cancer, digits, iris); README.md gives provenance, licences, preprocessing
// and checksums, and gen regenerates the files. The package has no code: it
// exists for the tests that check the files.
package datasets
