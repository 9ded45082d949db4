package main

import (
	"github.com/cairnml/cairn"
)

// labelsFlag is a --labels flag: "k=v,k2=v2" (cairn.ParseLabels).
type labelsFlag struct{ m *map[string]string }

func (f labelsFlag) String() string {
	if f.m == nil {
		return ""
	}
	return cairn.FormatLabels(*f.m)
}

func (f labelsFlag) Set(s string) error {
	m, err := cairn.ParseLabels(s)
	if err != nil {
		return err
	}
	if m == nil {
		m = map[string]string{} // given, and none: routing applies
	}
	*f.m = m
	return nil
}

// queuesFlag is a --queues flag: "a,b" (cairn.ParseQueues; "default" is
// the default queue).
type queuesFlag struct{ q *[]string }

func (f queuesFlag) String() string {
	if f.q == nil || len(*f.q) == 0 {
		return ""
	}
	return cairn.FormatQueues(*f.q)
}

func (f queuesFlag) Set(s string) error {
	q, err := cairn.ParseQueues(s)
	if err != nil {
		return err
	}
	if q == nil {
		q = []string{} // given, and none: the default queue only
	}
	*f.q = q
	return nil
}
