namespace ReverseSD.MLNet;

/// <summary>
/// Bad input from the user (missing file, wrong column, empty prompt, mismatched dimensions, a model
/// from another version): the message names the thing and the fix. The CLI prints it on one line and exits with code 2.
/// </summary>
public sealed class ReverseSdInputException : Exception
{
    /// <summary>Creates the exception with a message that names the bad input and how to fix it.</summary>
    public ReverseSdInputException(string message) : base(message) { }

    /// <summary>Creates the exception with a message and the underlying cause.</summary>
    public ReverseSdInputException(string message, Exception inner) : base(message, inner) { }
}
