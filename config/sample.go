package config

import (
	"strconv"
	"strings"
	"time"
)

// The signed-body presets' samples are text in which {id}, {event},
// {unix} and {time} stand for the delivery's id, its event, and its time
// as Unix seconds and RFC 3339 (ids are safe in JSON text).

func sampleReplacer(in SampleInput) *strings.Replacer {
	return strings.NewReplacer("{id}", in.ID, "{event}", in.Event,
		"{unix}", strconv.FormatInt(in.Time.Unix(), 10), "{time}", in.Time.UTC().Format(time.RFC3339))
}

// textBody is a Sample.Body of a text with those markers.
func textBody(text string) func(SampleInput) ([]byte, error) {
	return func(in SampleInput) ([]byte, error) {
		return []byte(sampleReplacer(in).Replace(text)), nil
	}
}

// textHeaders is a Sample.Headers of header values with those markers.
func textHeaders(headers map[string]string) func(SampleInput) map[string]string {
	return func(in SampleInput) map[string]string {
		r := sampleReplacer(in)
		out := make(map[string]string, len(headers))
		for k, v := range headers {
			out[k] = r.Replace(v)
		}
		return out
	}
}
