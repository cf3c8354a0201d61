package service

import "math/rand/v2"

// RunName names an auto-scheduled run as Prefect's generate_slug(2) does:
// two random words, adjective-animal. Names need not be unique.
func RunName() string {
	return nameAdjectives[rand.IntN(len(nameAdjectives))] + "-" + nameAnimals[rand.IntN(len(nameAnimals))]
}

var nameAdjectives = []string{"able", "bold", "bright", "busy", "clever", "cosmic", "crimson", "curious", "dapper",
	"dazzling", "elegant", "fearless", "festive", "fluffy", "friendly", "glorious", "golden", "graceful", "hasty",
	"humble", "lively", "lucky", "mellow", "mighty", "nimble", "noble", "patient", "placid", "quick", "quiet",
	"rapid", "rustic", "sassy", "serene", "shiny", "silver", "smart", "spry", "steady", "sturdy", "swift", "tidy",
	"tough", "vivid", "witty", "zealous"}

var nameAnimals = []string{"albatross", "alpaca", "antelope", "beaver", "bison", "bobcat", "caracal", "chameleon",
	"cheetah", "coyote", "crane", "dingo", "dolphin", "falcon", "ferret", "gazelle", "gecko", "gibbon", "hedgehog",
	"ibex", "iguana", "jackal", "jaguar", "kestrel", "kiwi", "koala", "lemur", "llama", "mongoose", "moose",
	"narwhal", "ocelot", "oriole", "pelican", "puffin", "python", "reindeer", "salamander", "seal", "sparrow",
	"tapir", "toucan", "walrus", "wombat", "yak", "zebra"}
