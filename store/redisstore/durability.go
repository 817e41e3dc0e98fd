package redisstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// durabilityFix is what the logs tell an operator to set.
const durabilityFix = "enable persistence (appendonly yes, or RDB snapshots with save) and set maxmemory-policy noeviction"

// checkDurability reads the server's persistence and eviction settings
// (on a Cluster, every master's) and logs one warning when users and
// sessions would not survive a restart or could be evicted. A server that
// refuses CONFIG (managed Redis often does) or cannot be reached is logged
// at info as unchecked; New succeeds either way.
func (s *Store) checkDurability(log *slog.Logger) {
	timeout := s.timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var risks []string
	var err error
	if c, ok := s.rdb.(*redis.ClusterClient); ok {
		var mu sync.Mutex
		err = c.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
			r, err := durabilityRisks(ctx, m)
			mu.Lock()
			defer mu.Unlock()
			for _, x := range r {
				if !slices.Contains(risks, x) {
					risks = append(risks, x)
				}
			}
			return err
		})
	} else {
		risks, err = durabilityRisks(ctx, s.rdb)
	}
	switch {
	case err != nil:
		why := "the server could not be reached"
		var rerr redis.Error
		if errors.As(err, &rerr) || errors.Is(err, errSettingHidden) {
			why = "the server refused CONFIG GET"
		}
		log.Info("redisstore: could not check the server's persistence and eviction settings ("+why+
			"); it keeps users and sessions, so "+durabilityFix, "error", err.Error())
	case len(risks) > 0:
		slices.Sort(risks)
		log.Warn("redisstore: this Redis can lose users and sessions: "+strings.Join(risks, "; ")+
			"; a returning user would get a new ID and every session would end. To keep them, "+durabilityFix,
			"prefix", s.prefix)
	}
}

// errSettingHidden: CONFIG GET answered without the setting asked for.
var errSettingHidden = errors.New("setting not shown")

// durabilityRisks reads save, appendonly and maxmemory-policy from one
// server in one round trip and says what puts the store's records at risk.
func durabilityRisks(ctx context.Context, c redis.Cmdable) ([]string, error) {
	names := [...]string{"save", "appendonly", "maxmemory-policy"}
	var cmds [len(names)]*redis.MapStringStringCmd
	_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, n := range names {
			cmds[i] = p.ConfigGet(ctx, n)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var v [len(names)]string
	for i, n := range names {
		val, ok := cmds[i].Val()[n]
		if !ok {
			return nil, fmt.Errorf("CONFIG GET %s: %w", n, errSettingHidden)
		}
		v[i] = val
	}
	var risks []string
	if strings.TrimSpace(v[0]) == "" && v[1] != "yes" {
		risks = append(risks, `no persistence (save "" and appendonly no): a restart empties it`)
	}
	if v[2] != "noeviction" {
		risks = append(risks, "maxmemory-policy is "+v[2]+", not noeviction: under memory pressure it deletes records")
	}
	return risks, nil
}
