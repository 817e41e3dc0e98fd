package pgstore

import (
	"strings"

	"github.com/jackc/pgx/v5"
)

// queries holds every statement of the store, with the schema filled in
// once at New.
type queries struct {
	putToken, consumeToken, peekToken, consumeCode      string
	createUser, findOrCreateUser, userByEmail, userByID string
	putCustomer, customerByID                           string
	gcra                                                string
	createSession, sessionLookup, rotateRefresh         string
	revokeSession, revokeUserSessions, userSessions     string
	sweepTokens, sweepCodes, sweepSessions, sweepLimits string
	sweepDeadLetters                                    string
}

// withSchema replaces {schema} in sql by the quoted schema name.
func withSchema(sql, schema string) string {
	return strings.ReplaceAll(sql, "{schema}", pgx.Identifier{schema}.Sanitize())
}

func newQueries(schema string) queries {
	var q queries
	for p, sql := range map[*string]string{
		&q.putToken:           putTokenSQL,
		&q.consumeToken:       consumeTokenSQL,
		&q.peekToken:          peekTokenSQL,
		&q.consumeCode:        consumeCodeSQL,
		&q.createUser:         createUserSQL,
		&q.findOrCreateUser:   findOrCreateUserSQL,
		&q.userByEmail:        userByEmailSQL,
		&q.userByID:           userByIDSQL,
		&q.putCustomer:        putCustomerSQL,
		&q.customerByID:       customerByIDSQL,
		&q.gcra:               gcraSQL,
		&q.createSession:      createSessionSQL,
		&q.sessionLookup:      sessionLookupSQL,
		&q.rotateRefresh:      rotateRefreshSQL,
		&q.revokeSession:      revokeSessionSQL,
		&q.revokeUserSessions: revokeUserSessionsSQL,
		&q.userSessions:       userSessionsSQL,
		&q.sweepTokens:        sweepTokensSQL,
		&q.sweepCodes:         sweepCodesSQL,
		&q.sweepSessions:      sweepSessionsSQL,
		&q.sweepLimits:        sweepLimitsSQL,
		&q.sweepDeadLetters:   sweepDeadLettersSQL,
	} {
		*p = withSchema(sql, schema)
	}
	return q
}
