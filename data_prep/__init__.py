"""replytune data preparation: raw tweets -> a clean, leakage-free, versioned tweet->reply DatasetDict."""
