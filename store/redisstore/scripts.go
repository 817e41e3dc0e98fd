package redisstore

import (
	"context"

	"github.com/redis/go-redis/v9"
)

// scriptCall is one script invocation for evalAll.
type scriptCall struct {
	script *redis.Script
	keys   []string
	args   []any
}

// evalAll runs calls in one pipelined round trip by SHA and reads each
// reply from its command. A server without a script yet (first use,
// SCRIPT FLUSH, or one Cluster node of several) answers NOSCRIPT and ran
// nothing, so exactly those calls are sent again with their source.
func (s *Store) evalAll(ctx context.Context, calls []scriptCall) []*redis.Cmd {
	cmds := make([]*redis.Cmd, len(calls))
	pipe := s.rdb.Pipeline()
	for i, c := range calls {
		cmds[i] = c.script.EvalSha(ctx, pipe, c.keys, c.args...)
	}
	_, _ = pipe.Exec(ctx) // errors are read per command
	var retry redis.Pipeliner
	for i, c := range cmds {
		if redis.HasErrorPrefix(c.Err(), "NOSCRIPT") {
			if retry == nil {
				retry = s.rdb.Pipeline()
			}
			cmds[i] = calls[i].script.Eval(ctx, retry, calls[i].keys, calls[i].args...)
		}
	}
	if retry != nil {
		_, _ = retry.Exec(ctx)
	}
	return cmds
}
