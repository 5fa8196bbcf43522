using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Onnx;


namespace ReverseSD.MLNet.Onnx;

/// <summary>
/// The shared body of this library's fitted stages that score through a compiled ONNX graph: schema checks on the
/// input columns, then delegation of Transform / GetOutputSchema / Save to ML.NET's <see cref="OnnxTransformer"/>.
/// </summary>
internal sealed class CompiledTransformer : IDisposable
{
    private readonly OnnxTransformer _onnx;
    private readonly (string Name, int Size)[] _inputs;
    private readonly string _role;
    private bool _disposed;

    public CompiledTransformer(OnnxTransformer onnx, (string Name, int Size)[] inputs, string role)
    {
        _onnx = onnx;
        _inputs = inputs;
        _role = role;
    }

    public OnnxTransformer Onnx => _onnx;

    public void CheckInput(DataViewSchema schema)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        foreach (var (name, size) in _inputs)
            InputColumns.RequireFloatVector(schema, name, size, _role);
    }

    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema)
    {
        CheckInput(inputSchema);
        return _onnx.GetOutputSchema(inputSchema);
    }

    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema)
    {
        CheckInput(inputSchema);
        return ((ITransformer)_onnx).GetRowToRowMapper(inputSchema);
    }

    public IDataView Transform(IDataView input)
    {
        CheckInput(input.Schema);
        return _onnx.Transform(input);
    }

    public void Save(ModelSaveContext ctx)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ((ICanSaveModel)_onnx).Save(ctx);
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _onnx.Dispose();
    }
}
