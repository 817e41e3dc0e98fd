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
	var crc uint16
	for k := 0; k < len(key); k++ {
		crc ^= uint16(key[k]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return int(crc) % clusterSlots
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
