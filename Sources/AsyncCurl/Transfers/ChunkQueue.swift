/// A first-in, first-out queue of byte chunks for the body state machines: taking from the
/// front moves an index instead of shifting the array, and the spent front is dropped once
/// it is at least half of the array (or the queue is empty), so many small chunks cost
/// constant time each.
struct ChunkQueue {
    private var chunks: [[UInt8]] = []
    /// The index of the first chunk not taken yet.
    private var head = 0

    var isEmpty: Bool { head == chunks.count }

    /// The first chunk not taken yet.
    var first: [UInt8]? { isEmpty ? nil : chunks[head] }

    mutating func append(_ chunk: [UInt8]) {
        chunks.append(chunk)
    }

    /// Takes the first chunk; the queue must not be empty.
    mutating func removeFirst() -> [UInt8] {
        let chunk = chunks[head]
        chunks[head] = []
        head += 1
        if head == chunks.count {
            chunks.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 64, head * 2 >= chunks.count {
            chunks.removeFirst(head)
            head = 0
        }
        return chunk
    }

    mutating func removeAll() {
        chunks = []
        head = 0
    }
}
