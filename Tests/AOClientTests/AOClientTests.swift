import Testing
@testable import AOClient
