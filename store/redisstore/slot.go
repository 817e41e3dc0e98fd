package redisstore

import "strings"

// clusterSlots is the number of Redis Cluster hash slots.
const clusterSlots = 16384

// keySlot is the Redis Cluster slot of key: CRC16 (XMODEM) of its hash tag
// (the text between the first "{" and the next "}", when not empty), else of
// the whole key, modulo 16384.
func keySlot(key string) int {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	return int(crc16(key)) % clusterSlots
}

// crc16 is CRC-16/XMODEM (polynomial 0x1021, initial value 0), the hash of
// Redis Cluster.
func crc16(v string) uint16 {
	var crc uint16
	for k := 0; k < len(v); k++ {
		crc ^= uint16(v[k]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

// slotTagLen is the length of a slot tag: six octal digits. Their 18 bits
// reach every one of the 16384 slots; five digits would not.
const slotTagLen = 6

// slotBits is the number of bits of a slot (clusterSlots is 1 << slotBits).
const slotBits = 14

// slotTags makes, for any slot, a short hash tag that lies in it: six octal
// digits. It relies on CRC-16/XMODEM being linear over GF(2) for messages
// of one length (its initial value is 0): the CRC of a XOR b is the CRC of
// a XOR the CRC of b. A tag is "000000" XOR 18 value bits (three per
// digit), so its slot is the slot of "000000" XOR the slots of the value
// bits it sets, and a slot is reached by solving for those bits.
type slotTags struct {
	// zero is the slot of "000000".
	zero int
	// unit[k] is a set of value bits (bit 3i+b: bit b of digit i) whose
	// slots XOR to slot bit k alone.
	unit [slotBits]uint32
}

// newSlotTags solves the system once by Gaussian elimination over GF(2).
// Every slot bit has a pivot (the 18 value bits span all 14 slot bits),
// which TestSlotTagsReachEverySlot checks slot by slot.
func newSlotTags() slotTags {
	st := slotTags{zero: keySlot("000000")}
	// pivot[k] is a (slot bits, value bits) pair whose highest slot bit
	// is k, then, after back substitution, whose slot bits are k alone.
	var pivot [slotBits]struct {
		slot  int
		value uint32
		ok    bool
	}
	for j := range 3 * slotTagLen {
		var msg [slotTagLen]byte
		msg[j/3] = 1 << (j % 3)
		slot, value := keySlot(string(msg[:])), uint32(1)<<j
		for k := slotBits - 1; k >= 0 && slot != 0; k-- {
			if slot>>k&1 == 0 {
				continue
			}
			if !pivot[k].ok {
				pivot[k].slot, pivot[k].value, pivot[k].ok = slot, value, true
				break
			}
			slot, value = slot^pivot[k].slot, value^pivot[k].value
		}
	}
	for k := range slotBits {
		for l := k - 1; l >= 0; l-- {
			if pivot[k].slot>>l&1 == 1 {
				pivot[k].slot ^= pivot[l].slot
				pivot[k].value ^= pivot[l].value
			}
		}
		st.unit[k] = pivot[k].value
	}
	return st
}

// tag returns the slot tag of slot: six octal digits whose CRC16 falls in
// it. A slot has one tag.
func (st *slotTags) tag(slot int) string {
	want := slot ^ st.zero
	var value uint32
	for k := range slotBits {
		if want>>k&1 == 1 {
			value ^= st.unit[k]
		}
	}
	var b [slotTagLen]byte
	for i := range b {
		b[i] = '0' + byte(value>>(3*i)&7)
	}
	return string(b[:])
}

// bySlot splits a batch into groups of one slot each, in the order their
// first key appears; a group keeps its requests' order.
func bySlot(reqs []limitReq) [][]limitReq {
	var groups [][]limitReq
	var slots []int
	for _, r := range reqs {
		slot := keySlot(r.key)
		g := 0
		for g < len(slots) && slots[g] != slot {
			g++
		}
		if g == len(slots) {
			slots = append(slots, slot)
			groups = append(groups, nil)
		}
		groups[g] = append(groups[g], r)
	}
	return groups
}
