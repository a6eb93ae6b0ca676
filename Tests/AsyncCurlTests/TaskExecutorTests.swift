import AsyncCurl
import LoopbackServer
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
@testable import TestPeers
#endif

/// `CurlMulti.taskExecutor`: tasks that prefer it run on the engine's readiness thread, which
/// resumes their waits without handing them to another thread.
extension AsyncCurlTests {
    @Suite struct TaskExecutorTests {
        /// The name of the thread running the caller.
        static func currentThreadName() -> String {
            let fd = open("/proc/thread-self/comm", O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { return "?" }
            defer { close(fd) }
            var name = [UInt8](repeating: 0, count: 32)
            let count = read(fd, &name, name.count)
            return String(decoding: name.prefix(max(0, count)), as: UTF8.self).trimmingCharacters(in: .newlines)
        }

        @Test func tasksThatPreferTheEngineRunOnItsReadinessThread() async throws {
            let server = try LoopbackServer(mode: .echo)
            defer { server.stop() }
            let multi = CurlMulti()
            let connection = try await multi.connect(to: server.url)
            var threads: Set<String> = []
            try await withTaskExecutorPreference(multi.taskExecutor) {
                // Moves the task to its preferred executor even if no receive below has to wait.
                await Task.yield()
                for index in 0..<500 {
                    // Each receive waits for the echo, and the readiness thread resumes it.
                    try await ScaleTests.echoCheck(connection, index)
                    threads.insert(Self.currentThreadName())
                }
            }
            #expect(threads == ["AsyncCurl.ready"])
            // Without the preference the same exchange resumes on Swift's global pool.
            try await ScaleTests.echoCheck(connection, 500)
            #expect(Self.currentThreadName() != "AsyncCurl.ready")
            await connection.close()
            #expect(await multi.diagnostics == .idle)
        }

        /// A task that keeps the thread busy (it yields in a loop, so a job of it is always
        /// queued) does not starve other connections' wake-ups: between jobs the thread still
        /// looks at its sockets, without blocking.
        @Test func aBusyTaskOnTheThreadDoesNotStarveWakeUps() async throws {
            final class Flag: Sendable {
                let isSet = Atomic<Bool>(false)
            }
            let server = try LoopbackServer(mode: .echo)
            defer { server.stop() }
            let multi = CurlMulti()
            let connection = try await multi.connect(to: server.url)
            let stop = Flag()
            let spinning = Flag()
            let spinner = Task(executorPreference: multi.taskExecutor) { () -> Int in
                var turns = 0
                while !stop.isSet.load(ordering: .relaxed) {
                    spinning.isSet.store(true, ordering: .relaxed)
                    await Task.yield()
                    turns += 1
                }
                return turns
            }
            try await waitUntil("the spinner to run") { spinning.isSet.load(ordering: .relaxed) }
            // These receives wait in the thread's epoll set while the spinner's job is queued.
            for index in 0..<20 {
                let message = Array("while busy \(index)\n".utf8)
                try await connection.send(message)
                #expect(try await connection.receive(exactly: message.count, timeout: .seconds(10)) == message)
            }
            stop.isSet.store(true, ordering: .relaxed)
            #expect(await spinner.value > 0)
            await connection.close()
            #expect(await multi.diagnostics == .idle)
        }

        /// Many tasks on the one thread, each with its own connection: their waits interleave
        /// there, and every echo is byte-exact.
        @Test func concurrentConnectionsShareTheThread() async throws {
            let server = try LoopbackServer(mode: .echo)
            defer { server.stop() }
            let multi = CurlMulti()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for task in 0..<50 {
                    group.addTask(executorPreference: multi.taskExecutor) {
                        let connection = try await multi.connect(to: server.url)
                        for round in 0..<40 {
                            try await ScaleTests.echoCheck(connection, task * 1000 + round)
                        }
                        await connection.close()
                    }
                }
                try await group.waitForAll()
            }
            #expect(await multi.diagnostics == .idle)
        }

        /// Thousands of connects from tasks that prefer a task executor. Entering a connect's
        /// cancellation handler then suspends the task, and the engine used to add the handle to
        /// libcurl before that point: connects that libcurl finished in the window found no
        /// continuation and never returned (5,798 of 6,000 here).
        @Test func everyConnectFromAPreferringTaskReturns() async throws {
            raiseOpenFileLimit()
            let server = try LoopbackServer(mode: .echo)
            defer { server.stop() }
            let multi = CurlMulti()
            let count = 5000
            let open = try await withTaskExecutorPreference(multi.taskExecutor) {
                try await withThrowingTaskGroup(of: AsyncConnection.self) { group in
                    for _ in 0..<count {
                        group.addTask { try await multi.connect(to: server.url) }
                    }
                    var open: [AsyncConnection] = []
                    for try await connection in group { open.append(connection) }
                    return open
                }
            }
            #expect(open.count == count)
            #expect(await multi.diagnostics.open == count)
            for connection in open { await connection.close() }
            #expect(await multi.diagnostics == .idle)
        }

        /// Once the engine is gone its thread has stopped; a task that still prefers its executor
        /// runs on the global concurrent executor rather than never.
        @Test func tasksOutliveAReleasedEngine() async throws {
            weak var released: CurlMulti?
            var executor: (any TaskExecutor)?
            do {
                let multi = CurlMulti()
                released = multi
                executor = multi.taskExecutor
            }
            try await waitUntil("the engine to be released") { released == nil }
            let answer = await Task(executorPreference: executor) { () -> String in
                await Task.yield()
                return Self.currentThreadName()
            }.value
            #expect(answer != "AsyncCurl.ready")
        }
    }
}
