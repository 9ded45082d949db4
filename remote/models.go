package remote

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/tasks"
)

// The registry and lineage reads a task may make (tasks.ModelReader:
// retrain's), served to workers: the server answers them from its store,
// and the artifacts they name are fetched as any other, by digest.
// Read-only, like the artifacts a worker token may read.

type productionReply struct {
	Version cairn.ModelVersion `json:"version"`
}

type artifactReply struct {
	Artifact cairn.ArtifactRef `json:"artifact"`
}

type trainingDataRequest struct {
	Model cairn.ArtifactRef `json:"model"`
	Port  string            `json:"port"`
}

// models answers one registry read: 404 (not_found) when the store says
// cairn.ErrNotFound, 501 when the server lends no registry.
func (s *Server) models(w http.ResponseWriter, r *http.Request, read func(m tasks.ModelReader) (any, error)) {
	if s.o.Models == nil {
		fail(w, http.StatusNotImplemented, CodeNotFound, "this server lends no access to the model registry")
		return
	}
	out, err := read(s.o.Models)
	switch {
	case errors.Is(err, cairn.ErrNotFound):
		fail(w, http.StatusNotFound, CodeNotFound, err.Error())
	case err != nil:
		s.internal(w, r, err)
	default:
		writeJSON(w, http.StatusOK, out)
	}
}

func (s *Server) production(w http.ResponseWriter, r *http.Request, _ caller) {
	s.models(w, r, func(m tasks.ModelReader) (any, error) {
		v, err := m.Production(r.Context(), r.PathValue("name"))
		return productionReply{Version: v}, err
	})
}

func (s *Server) predictionLog(w http.ResponseWriter, r *http.Request, _ caller) {
	s.models(w, r, func(m tasks.ModelReader) (any, error) {
		a, err := m.PredictionLog(r.Context(), r.PathValue("name"))
		return artifactReply{Artifact: a}, err
	})
}

func (s *Server) trainingData(w http.ResponseWriter, r *http.Request, _ caller) {
	var req trainingDataRequest
	if !decode(w, r, &req, 64<<10) {
		return
	}
	if req.Model.Digest == "" || req.Port == "" {
		fail(w, http.StatusBadRequest, CodeBadInput, "training-data: want a model artifact (its digest) and a port")
		return
	}
	s.models(w, r, func(m tasks.ModelReader) (any, error) {
		a, err := m.TrainingData(r.Context(), req.Model, req.Port)
		return artifactReply{Artifact: a}, err
	})
}

var _ tasks.ModelReader = (*Client)(nil)

// Production implements tasks.ModelReader through the server.
func (c *Client) Production(ctx context.Context, name string) (cairn.ModelVersion, error) {
	var rep productionReply
	if err := c.call(ctx, http.MethodGet, "models/"+url.PathEscape(name)+"/production", "", nil, &rep, time.Minute); err != nil {
		return cairn.ModelVersion{}, fmt.Errorf("production version of model %s: %w", name, err)
	}
	return rep.Version, nil
}

// PredictionLog implements tasks.ModelReader through the server.
func (c *Client) PredictionLog(ctx context.Context, name string) (cairn.ArtifactRef, error) {
	var rep artifactReply
	if err := c.call(ctx, http.MethodGet, "models/"+url.PathEscape(name)+"/prediction-log", "", nil, &rep, 10*time.Minute); err != nil {
		return cairn.ArtifactRef{}, fmt.Errorf("prediction log of model %s: %w", name, err)
	}
	return rep.Artifact, nil
}

// TrainingData implements tasks.ModelReader through the server.
func (c *Client) TrainingData(ctx context.Context, model cairn.ArtifactRef, port string) (cairn.ArtifactRef, error) {
	var rep artifactReply
	if err := c.call(ctx, http.MethodPost, "models/training-data", "", trainingDataRequest{Model: model, Port: port}, &rep, time.Minute); err != nil {
		return cairn.ArtifactRef{}, fmt.Errorf("training data of %s: %w", model.Digest, err)
	}
	return rep.Artifact, nil
}
