using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Onnx;

namespace ReverseSD.MLNet.Onnx;

/// <summary>
/// The base of this library's fitted stages that score through a compiled ONNX graph (heads, ensemble combiner, DAKL,
/// kNN regression, prompt retrieval): the input columns are checked, then Transform, GetOutputSchema and Save go to
/// ML.NET's own <see cref="OnnxTransformer"/>, so a saved model loads back without this library.
/// </summary>
public abstract class CompiledOnnxTransformer : ITransformer, IDisposable
{
    private readonly OnnxTransformer _onnx;
    private readonly (string Name, int Size)[] _inputs;
    private readonly string _role;
    private bool _disposed;

    /// <summary>Wraps <paramref name="onnx"/>; <paramref name="inputs"/> are the float vector columns (and sizes) it reads.</summary>
    private protected CompiledOnnxTransformer(OnnxTransformer onnx, (string Name, int Size)[] inputs, string role)
    {
        ArgumentNullException.ThrowIfNull(onnx);
        _onnx = onnx;
        _inputs = inputs;
        _role = role;
    }

    internal OnnxTransformer Onnx => _onnx;

    /// <summary>True: the compiled graph maps rows one by one.</summary>
    public bool IsRowToRowMapper => true;

    /// <summary>Adds the output columns; a missing input column or one of the wrong size is a <see cref="ReverseSdInputException"/>.</summary>
    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema)
    {
        CheckInput(inputSchema);
        return _onnx.GetOutputSchema(inputSchema);
    }

    /// <summary>A row-to-row mapper over <paramref name="inputSchema"/>.</summary>
    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema)
    {
        CheckInput(inputSchema);
        return ((ITransformer)_onnx).GetRowToRowMapper(inputSchema);
    }

    /// <summary>Scores <paramref name="input"/> lazily.</summary>
    public IDataView Transform(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        CheckInput(input.Schema);
        return _onnx.Transform(input);
    }

    void ICanSaveModel.Save(ModelSaveContext ctx)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ((ICanSaveModel)_onnx).Save(ctx);
    }

    /// <summary>Releases the ONNX Runtime session; safe to call more than once.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        CompiledOnnxModel.Release(_onnx);
        GC.SuppressFinalize(this);
    }

    private void CheckInput(DataViewSchema schema)
    {
        ArgumentNullException.ThrowIfNull(schema);
        ObjectDisposedException.ThrowIf(_disposed, this);
        foreach (var (name, size) in _inputs)
            InputColumns.RequireFloatVector(schema, name, size, _role);
    }
}
