package data_test

import (
	"errors"
	"fmt"
	"log"
	"math"
	"os"
	"path/filepath"

	"github.com/hypergrad-go/hypergrad/data"
)

func ExampleLoadSupervised() {
	dir, err := os.MkdirTemp("", "example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "logreg.npz")

	// A file as numpy.savez would write it, with labels in {0, 1}.
	s := &data.Supervised{
		XTrain: data.NewDense(4, 2, []float64{1, 0, 0, 1, 1, 1, -1, 0}),
		YTrain: []float64{1, 0, 1, 0},
		XVal:   data.NewDense(2, 2, []float64{0, 2, 2, 0}),
		YVal:   []float64{0, 1},
		Lambda: []float64{-2}, // one shared weight
	}
	if err := data.SaveSupervised(path, s); err != nil {
		log.Fatal(err)
	}

	got, err := data.LoadSupervised(path, data.BinaryLabels)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("X_train:", got.XTrain.Rows, "×", got.XTrain.Cols)
	fmt.Println("y_train:", got.YTrain) // 0 → −1
	fmt.Println("lambda: ", got.Lambda)

	// Errors name the array and what is wrong.
	s.XVal = data.NewDense(1, 3, []float64{1, 2, 3})
	s.YVal = []float64{1}
	err = s.Validate(data.BinaryLabels)
	fmt.Println(err, errors.Is(err, data.ErrShape))
	// Output:
	// X_train: 4 × 2
	// y_train: [1 -1 1 -1]
	// lambda:  [-2]
	// data: X_val has 3 columns, X_train has 2 true
}

func ExampleSynthRidge() {
	s, err := data.SynthRidge(data.SynthOptions{
		N: 2000, D: 50, Kappa: 1e3, Noise: 0.1,
		Lambda: math.NaN(), // default: log(1e-2/Kappa)
		Seed:   1,
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("train %d×%d, validation %d×%d\n", s.XTrain.Rows, s.XTrain.Cols, s.XVal.Rows, s.XVal.Cols)
	fmt.Printf("lambda_j = %.4f = log(1e-2/1e3)\n", s.Lambda[0])

	// The same problem from a source string, as the CLI takes it.
	v, err := data.Load("ridge", "synth:n=2000,d=50,kappa=1e3,seed=1")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("same data:", v.(*data.Supervised).YTrain[0] == s.YTrain[0])
	// Output:
	// train 2000×50, validation 500×50
	// lambda_j = -11.5129 = log(1e-2/1e3)
	// same data: true
}
