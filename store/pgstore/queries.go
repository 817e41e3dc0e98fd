package pgstore

import (
	"strings"

	"github.com/jackc/pgx/v5"
)

// queries holds every statement of the store, with the schema filled in
// once at New.
type queries struct {
	putToken, consumeToken, consumeCode                 string
	createUser, findOrCreateUser, userByEmail, userByID string
	putCustomer, customerByID                           string
	gcra                                                string
	sweepTokens, sweepCodes, sweepLimits                string
}

// withSchema replaces {schema} in sql by the quoted schema name.
func withSchema(sql, schema string) string {
	return strings.ReplaceAll(sql, "{schema}", pgx.Identifier{schema}.Sanitize())
}

func newQueries(schema string) queries {
	q := queries{
		putToken:         putTokenSQL,
		consumeToken:     consumeTokenSQL,
		consumeCode:      consumeCodeSQL,
		createUser:       createUserSQL,
		findOrCreateUser: findOrCreateUserSQL,
		userByEmail:      userByEmailSQL,
		userByID:         userByIDSQL,
		putCustomer:      putCustomerSQL,
		customerByID:     customerByIDSQL,
		gcra:             gcraSQL,
		sweepTokens:      sweepTokensSQL,
		sweepCodes:       sweepCodesSQL,
		sweepLimits:      sweepLimitsSQL,
	}
	for _, p := range []*string{&q.putToken, &q.consumeToken, &q.consumeCode, &q.createUser, &q.findOrCreateUser,
		&q.userByEmail, &q.userByID, &q.putCustomer, &q.customerByID, &q.gcra,
		&q.sweepTokens, &q.sweepCodes, &q.sweepLimits} {
		*p = withSchema(*p, schema)
	}
	return q
}
