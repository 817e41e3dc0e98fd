package redisstore

import (
	"github.com/redis/go-redis/v9"

	"github.com/magiclink-go/magiclink/store"
)

// A user is kept twice, whole: under its address key and under its ID key.
// Both keys lie in one cluster slot, so that one script can create a user
// on a Cluster too. The address key's tag is a digest, which fixes its
// slot; the ID therefore carries that slot, as a slot tag (six octal
// digits, see slotTags) after a dot, which the store appends to the ID the
// caller chose when it stores a user (store.Users lets it replace u.ID):
//
//	ml:{<hex sha256(org \x00 email)>}:ue     user, looked up by address
//	ml:{<slot tag>}:u:<id tag>               user, looked up by an ID "….<slot tag>"
//	ml:{<id tag>}:u                          user, looked up by any other ID
//
// The last form is where earlier versions kept every user, and where a
// user whose ID came without a slot tag of its own address is kept (on a
// Cluster such a user costs CreateUser's two steps, see createInSteps).

// slotTagSep comes before the slot tag at the end of an ID. It is not in
// the alphabet of the IDs magiclink makes (base64url), so none of the IDs
// earlier versions stored looks tagged.
const slotTagSep = '.'

// idSlotTag returns the slot tag id ends with, if it has one.
func idSlotTag(id string) (string, bool) {
	if len(id) <= slotTagLen || id[len(id)-slotTagLen-1] != slotTagSep {
		return "", false
	}
	tag := id[len(id)-slotTagLen:]
	for i := 0; i < len(tag); i++ {
		if tag[i] < '0' || tag[i] > '7' {
			return "", false
		}
	}
	return tag, true
}

func (s *Store) userEmailKey(orgID, email string) string {
	return s.key(hashTag(orgID+"\x00"+email), "ue")
}

// userIDKey is the key of the user with this ID: in the slot of its slot
// tag when it has one, else legacyUserIDKey.
func (s *Store) userIDKey(id string) string {
	tag, ok := idSlotTag(id)
	if !ok {
		return s.legacyUserIDKey(id)
	}
	return s.key(tag, "u:"+idTag(id))
}

// legacyUserIDKey is the key of the user with this ID in the layout of
// earlier versions, under the ID's own tag.
func (s *Store) legacyUserIDKey(id string) string { return s.key(idTag(id), "u") }

// placeUser gives u.ID the slot tag of u's address key, unless the ID ends
// in a slot tag already (the caller's, which is then kept as it is), and
// returns the address key and the ID key, and whether one script can
// claim both: always on one server, on a Cluster when they share a slot.
func (s *Store) placeUser(u *store.User) (emailKey, idKey string, together bool) {
	emailKey = s.userEmailKey(u.OrgID, u.Email)
	if _, ok := idSlotTag(u.ID); !ok {
		u.ID += string(slotTagSep) + s.slots.tag(keySlot(emailKey))
	}
	idKey = s.userIDKey(u.ID)
	return emailKey, idKey, !s.cluster() || keySlot(idKey) == keySlot(emailKey)
}

// cluster reports whether the client is a Cluster client, where a script
// may touch the keys of one slot only.
func (s *Store) cluster() bool {
	_, ok := s.rdb.(*redis.ClusterClient)
	return ok
}
