/// llama.cpp's converter (convert_hf_to_gguf.py) permutes the rows of a Llama model's `attn_q` and
/// `attn_k` weights so that its rotary embedding can rotate adjacent pairs (x0, x1), (x2, x3), …,
/// whereas Hugging Face's Llama rotates the halves of a head (x_i, x_{i+d/2}). Within each head of
/// `headRows` rows, GGUF row `2i + j` (j ∈ {0, 1}) is Hugging Face row `j * headRows / 2 + i`.
/// This gives the Hugging Face order back, as transformers' GGUF loader does
/// (`_reverse_permute_weights`, with the key/value head count for `attn_k`).
///
/// - Parameters:
///   - weights: `[heads * headRows, columns]`, row-major, as `GGUFFile.float32` returns it.
///   - heads: query heads for `attn_q`, key/value heads for `attn_k`.
public func unpermuteLlamaQueryKeyRows(_ weights: [Float], heads: Int, columns: Int) -> [Float] {
    precondition(heads > 0 && columns > 0 && weights.count % (heads * columns) == 0, "weights do not split into \(heads) heads of \(columns) columns")
    let headRows = weights.count / columns / heads
    precondition(headRows % 2 == 0, "a head's rows must be even")
    let half = headRows / 2
    var result = [Float](repeating: 0, count: weights.count)
    weights.withUnsafeBufferPointer { source in
        result.withUnsafeMutableBufferPointer { target in
            for head in 0..<heads {
                let base = head * headRows
                for i in 0..<half {
                    for j in 0..<2 {
                        let from = (base + 2 * i + j) * columns
                        let to = (base + j * half + i) * columns
                        for c in 0..<columns { target[to + c] = source[from + c] }
                    }
                }
            }
        }
    }
    return result
}
