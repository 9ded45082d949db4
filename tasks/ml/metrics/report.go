package metrics

// BinaryReport holds every binary classification metric of one set of
// predictions. Binary scores are for the positive class, label 1.
type BinaryReport struct {
	Accuracy  float64 `json:"accuracy"`
	Confusion [][]int `json:"confusion"`
	Binary    Scores  `json:"binary"`
	Micro     Scores  `json:"micro"`
	Macro     Scores  `json:"macro"`
	Weighted  Scores  `json:"weighted"`
	LogLoss   float64 `json:"log_loss"`
	ROCAUC    float64 `json:"roc_auc"`
	ROC       Curve   `json:"roc"`
}

// EvaluateBinary computes every binary metric from true labels and
// predicted labels (0 or 1) and the predicted probability of class 1, with
// one pass for the counts, one for log loss and one sort for the ROC curve.
// It returns an error wrapping ErrEmpty, ErrLengthMismatch, ErrLabel,
// ErrNonFinite, ErrProbability (a score outside [0, 1]) or ErrOneClass.
func EvaluateBinary(yTrue, yPred []int, probs []float64) (BinaryReport, error) {
	const what = "evaluate binary"
	cm, err := ConfusionMatrix(yTrue, yPred, 2)
	if err != nil {
		return BinaryReport{}, err
	}
	if err := checkLengths(what, len(yTrue), len(probs)); err != nil {
		return BinaryReport{}, err
	}
	if err := checkProbabilities(what, probs); err != nil {
		return BinaryReport{}, err
	}
	rep := BinaryReport{Confusion: cm, LogLoss: binaryLogLoss(yTrue, probs)}
	if err := fillScores(cm, &rep.Accuracy, map[Average]*Scores{
		Binary: &rep.Binary, Micro: &rep.Micro, Macro: &rep.Macro, Weighted: &rep.Weighted,
	}); err != nil {
		return BinaryReport{}, err
	}
	var r ranker
	pos, neg, err := r.binary(what, yTrue, probs)
	if err != nil {
		return BinaryReport{}, err
	}
	rep.ROC = curve(pos, neg)
	rep.ROCAUC = rep.ROC.AUC
	return rep, nil
}

// MulticlassReport holds every multi-class classification metric of one
// set of predictions.
type MulticlassReport struct {
	Accuracy       float64 `json:"accuracy"`
	Confusion      [][]int `json:"confusion"`
	Micro          Scores  `json:"micro"`
	Macro          Scores  `json:"macro"`
	Weighted       Scores  `json:"weighted"`
	LogLoss        float64 `json:"log_loss"`
	ROCAUCMacro    float64 `json:"roc_auc_ovr_macro"`
	ROCAUCWeighted float64 `json:"roc_auc_ovr_weighted"`
}

// EvaluateMulticlass computes every multi-class metric from true and
// predicted labels and class probabilities (probs[i][c], k = len(probs[0])
// >= 2 classes, rows summing to 1), with one sort per class for both
// one-vs-rest ROC AUC averages. It returns an error wrapping ErrEmpty,
// ErrLengthMismatch, ErrShape, ErrLabel, ErrNonFinite, ErrProbability or
// ErrOneClass (a class absent from yTrue).
func EvaluateMulticlass(yTrue, yPred []int, probs [][]float64) (MulticlassReport, error) {
	const what = "evaluate multiclass"
	k, err := checkProbRows(what, probs, len(yTrue))
	if err != nil {
		return MulticlassReport{}, err
	}
	cm, err := ConfusionMatrix(yTrue, yPred, k)
	if err != nil {
		return MulticlassReport{}, err
	}
	rep := MulticlassReport{Confusion: cm, LogLoss: logLoss(yTrue, probs)}
	if err := fillScores(cm, &rep.Accuracy, map[Average]*Scores{
		Micro: &rep.Micro, Macro: &rep.Macro, Weighted: &rep.Weighted,
	}); err != nil {
		return MulticlassReport{}, err
	}
	counts := make([]int, k)
	for c, row := range cm {
		for _, v := range row {
			counts[c] += v
		}
	}
	// Macro and weighted share the per-class areas: compute them once.
	aucs, err := perClassAUC(what, yTrue, probs, k, counts)
	if err != nil {
		return MulticlassReport{}, err
	}
	n := float64(len(yTrue))
	for c, a := range aucs {
		rep.ROCAUCMacro += a
		rep.ROCAUCWeighted += float64(counts[c]) * a
	}
	rep.ROCAUCMacro /= float64(k)
	rep.ROCAUCWeighted /= n
	return rep, nil
}

func fillScores(cm [][]int, acc *float64, dst map[Average]*Scores) error {
	for avg, s := range dst {
		v, err := ScoresFromConfusion(cm, avg, 1)
		if err != nil {
			return err
		}
		*s = v
	}
	diag, total := 0, 0
	for r, row := range cm {
		diag += row[r]
		for _, v := range row {
			total += v
		}
	}
	*acc = float64(diag) / float64(total)
	return nil
}
